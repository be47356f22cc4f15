// Q4_0 × Q8_0 dot products: weights are blocks of an f16 scale and 16 bytes of nibbles (element j in the low
// nibble of byte j, element j+16 in the high), value = nibble - 8. Integer dot of the nibbles (0..15) with the
// int8 activations, then -8·Σx from the activation block's precomputed sum, then one float scale per block.
import { f16Lookup } from "./f16";
import { Q8_0_BYTES } from "./q8_0";

export const Q4_0_BYTES: i32 = 18;

/**
 * Lane i of the relaxed dot is Σ of elements 4i..4i+3. Reordering bytes to [0,1,4,5,8,9,12,13 | 2,3,6,7,…]
 * before widening makes the two i16 dots produce exactly those lane sums, so both variants round alike.
 */
@inline
function relaxedLaneOrder(v: v128): v128 {
  return i8x16.shuffle(v, v, 0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15);
}

/** Σ_lanes of u4 × i8 products, laid out in lanes as i32x4.relaxed_dot_i8x16_i7x16_add_s does. */
@inline
function dotU4I8(nibbles: v128, x: v128, acc: v128): v128 {
  const n = relaxedLaneOrder(nibbles);
  const a = relaxedLaneOrder(x);
  acc = i32x4.add(acc, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(n), i16x8.extend_low_i8x16_s(a)));
  return i32x4.add(acc, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(n), i16x8.extend_high_i8x16_s(a)));
}

/** One block's lane sums of nibbles (lo: elements 0-15, hi: 16-31) × the Q8_0 block at x, plain SIMD. */
@inline
export function blockDotQ4_0Simd(lo: v128, hi: v128, x: usize): v128 {
  return dotU4I8(hi, v128.load(x, 18), dotU4I8(lo, v128.load(x, 2), i32x4.splat(0)));
}

/** Plain SIMD: nibbles and activations widened to i16, then i32x4.dot_i16x8_s; bit-identical to the relaxed one. */
export function vecDotQ4_0Q8_0Simd(w: usize, x: usize, xs: usize, nb: i32): f32 {
  const mask = i8x16.splat(0x0f);
  let acc = f32x4.splat(0);
  let correction: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const dw = f16Lookup(load<u16>(w));
    const d = dw * load<f32>(xs);
    const q = v128.load(w, 2);
    let s = dotU4I8(v128.and(q, mask), v128.load(x, 2), i32x4.splat(0));
    s = dotU4I8(v128.and(i16x8.shr_u(q, 4), mask), v128.load(x, 18), s);
    acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(s), f32x4.splat(d)));
    correction += dw * load<f32>(xs, 4);
    w += <usize>Q4_0_BYTES;
    x += <usize>Q8_0_BYTES;
    xs += 8;
  }
  return f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3) - 8 * correction;
}

/** Two rows at once, as rowPairQ4_0Relaxed, with plain SIMD; bit-identical to it. */
export function rowPairQ4_0Simd(out: usize, w0: usize, w1: usize, x: usize, xs: usize, nb: i32): void {
  const mask = i8x16.splat(0x0f);
  let acc0 = f32x4.splat(0);
  let acc1 = f32x4.splat(0);
  let corr0: f32 = 0;
  let corr1: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const xd = load<f32>(xs);
    const xk = load<f32>(xs, 4);
    const dw0 = f16Lookup(load<u16>(w0));
    const dw1 = f16Lookup(load<u16>(w1));
    const q0 = v128.load(w0, 2);
    const q1 = v128.load(w1, 2);
    const s0 = blockDotQ4_0Simd(v128.and(q0, mask), v128.and(i16x8.shr_u(q0, 4), mask), x);
    const s1 = blockDotQ4_0Simd(v128.and(q1, mask), v128.and(i16x8.shr_u(q1, 4), mask), x);
    acc0 = f32x4.add(acc0, f32x4.mul(f32x4.convert_i32x4_s(s0), f32x4.splat(dw0 * xd)));
    acc1 = f32x4.add(acc1, f32x4.mul(f32x4.convert_i32x4_s(s1), f32x4.splat(dw1 * xd)));
    corr0 += dw0 * xk;
    corr1 += dw1 * xk;
    w0 += <usize>Q4_0_BYTES;
    w1 += <usize>Q4_0_BYTES;
    x += <usize>Q8_0_BYTES;
    xs += 8;
  }
  store<f32>(out, f32x4.extract_lane(acc0, 0) + f32x4.extract_lane(acc0, 1) + f32x4.extract_lane(acc0, 2) + f32x4.extract_lane(acc0, 3) - 8 * corr0);
  store<f32>(out, f32x4.extract_lane(acc1, 0) + f32x4.extract_lane(acc1, 1) + f32x4.extract_lane(acc1, 2) + f32x4.extract_lane(acc1, 3) - 8 * corr1, 4);
}
