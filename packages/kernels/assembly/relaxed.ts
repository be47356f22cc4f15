// Relaxed-SIMD variants: i32x4.relaxed_dot_i8x16_i7x16_add_s takes the 0..15 nibbles as its 7-bit operand,
// which Node 24's V8 lowers to AVX-VNNI vpdpbusd (Node 22: pmaddubsw + pmaddwd).
import { f16Lookup } from "./f16";
import { Q8_0_BYTES } from "./q8_0";
import { Q4_0_BYTES } from "./q4_0";

/** One block's lane sums of nibbles (lo: elements 0-15, hi: 16-31) × the Q8_0 block at x. */
@inline
export function blockDotQ4_0Relaxed(lo: v128, hi: v128, x: usize): v128 {
  return i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(x, 18), hi, i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(x, 2), lo, i32x4.splat(0)));
}

export function vecDotQ4_0Q8_0Relaxed(w: usize, x: usize, xs: usize, nb: i32): f32 {
  const mask = i8x16.splat(0x0f);
  const zero = i32x4.splat(0);
  let acc = f32x4.splat(0);
  let correction: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const dw = f16Lookup(load<u16>(w));
    const d = dw * load<f32>(xs);
    const q = v128.load(w, 2);
    let s = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(x, 2), v128.and(q, mask), zero);
    s = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(x, 18), v128.and(i16x8.shr_u(q, 4), mask), s);
    acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(s), f32x4.splat(d)));
    correction += dw * load<f32>(xs, 4);
    w += <usize>Q4_0_BYTES;
    x += <usize>Q8_0_BYTES;
    xs += 8;
  }
  return f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3) - 8 * correction;
}

/**
 * Two rows at once: each row keeps its own accumulator (so each row's result is bit-identical to
 * vecDotQ4_0Q80Relaxed's) while the two independent chains hide the float-add latency and share the
 * activation loads.
 */
export function rowPairQ4_0Relaxed(out: usize, w0: usize, w1: usize, x: usize, xs: usize, nb: i32): void {
  const mask = i8x16.splat(0x0f);
  const zero = i32x4.splat(0);
  let acc0 = f32x4.splat(0);
  let acc1 = f32x4.splat(0);
  let corr0: f32 = 0;
  let corr1: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const xd = load<f32>(xs);
    const xk = load<f32>(xs, 4);
    const xa = v128.load(x, 2);
    const xb = v128.load(x, 18);
    const dw0 = f16Lookup(load<u16>(w0));
    const dw1 = f16Lookup(load<u16>(w1));
    const q0 = v128.load(w0, 2);
    const q1 = v128.load(w1, 2);
    let s0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xa, v128.and(q0, mask), zero);
    let s1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xa, v128.and(q1, mask), zero);
    s0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xb, v128.and(i16x8.shr_u(q0, 4), mask), s0);
    s1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xb, v128.and(i16x8.shr_u(q1, 4), mask), s1);
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
