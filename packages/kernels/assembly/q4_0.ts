// Q4_0 × Q8_0 dot products: weights are blocks of an f16 scale and 16 bytes of nibbles (element j in the low
// nibble of byte j, element j+16 in the high), value = nibble - 8. Integer dot of the nibbles (0..15) with the
// int8 activations, then -8·Σx from the activation block's precomputed sum, then one float scale per block.
import { f16Lookup } from "./f16";
import { fmaF32, fmaF32x4 } from "./fma";
import { fmaLanes, hsum8, laneSumsI8, prepareI8, relaxedLaneOrder } from "./lanes";
import { Q8_0_BYTES } from "./q8_0";
import { blockDotQ4_0Relaxed } from "./relaxed";

export const Q4_0_BYTES: i32 = 18;

/**
 * One block's contribution, as llama.cpp's x86 Q4_0 kernels add it for the matrices they repack into 8-row
 * groups (every one whose rows are a multiple of 8; the others: vecDotQ4_0Q8_0Unpacked):
 * acc = fma(Σ lanes, d, acc) in float32, block after block, the integer sum exact (fma.ts rounds it once).
 * Measured against llama.cpp's reference logits: plain float32 lanes, or a double sum over all blocks, each
 * flip a later activation's Q8_0 rounding now and then (0.02-0.16 on every later step); this does not.
 */
@inline
export function accumulateBlock(acc: f32, s: v128, d: f32): f32 {
  const sum = i32x4.extract_lane(s, 0) + i32x4.extract_lane(s, 1) + i32x4.extract_lane(s, 2) + i32x4.extract_lane(s, 3);
  return fmaF32(<f32>sum, d, acc);
}

/**
 * The same for four (row, activation) pairs at once: s0..s3 are their lane sums of the raw nibbles, offsets
 * their "-8" terms (-8·Σq, i32x4), d their scales (f32x4), acc their float32 accumulators (f32x4). Horizontal
 * sums by transposition, the offsets, then one fused multiply-add.
 */
@inline
export function accumulateBlock4(acc: v128, s0: v128, s1: v128, s2: v128, s3: v128, offsets: v128, d: v128): v128 {
  const a = i32x4.add(i32x4.shuffle(s0, s1, 0, 1, 4, 5), i32x4.shuffle(s0, s1, 2, 3, 6, 7));
  const b = i32x4.add(i32x4.shuffle(s2, s3, 0, 1, 4, 5), i32x4.shuffle(s2, s3, 2, 3, 6, 7));
  const sums = i32x4.add(i32x4.add(i32x4.shuffle(a, b, 0, 2, 4, 6), i32x4.shuffle(a, b, 1, 3, 5, 7)), offsets);
  // A block's sum is at most 32·8·128 in magnitude: exact as a float.
  return fmaF32x4(f32x4.convert_i32x4_s(sums), d, acc);
}

/**
 * The "-8" of every nibble as an integer start value for a block's lane sums: (-8·Σq, 0, 0, 0), Σq being the
 * activation block's sum (the i32 after its scale at xs). Integer, so exact, like ggml's (nibble - 8)·q.
 */
@inline
export function offset8(xs: usize): v128 {
  return i32x4.replace_lane(i32x4.splat(0), 0, -8 * load<i32>(xs, 4));
}

/** Σ_lanes of u4 × i8 products, laid out in lanes as i32x4.relaxed_dot_i8x16_i7x16_add_s does. */
@inline
function dotU4I8(nibbles: v128, x: v128, acc: v128): v128 {
  const n = relaxedLaneOrder(nibbles);
  const a = relaxedLaneOrder(x);
  acc = i32x4.add(acc, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(n), i16x8.extend_low_i8x16_s(a)));
  return i32x4.add(acc, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(n), i16x8.extend_high_i8x16_s(a)));
}

/**
 * One block's lane sums of nibbles (lo: elements 0-15, hi: 16-31) × the Q8_0 block at x, added to init:
 * through the relaxed dot where this build has it, else plain SIMD; both lay lanes out alike.
 */
@inline
export function blockDotQ4_0(init: v128, lo: v128, hi: v128, x: usize): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return blockDotQ4_0Relaxed(init, lo, hi, x);
  return dotU4I8(hi, v128.load(x, 18), dotU4I8(lo, v128.load(x, 2), init));
}

/** Row of Q4_0 weights · Q8_0 activations; xs holds the activations' per-block d (f32) and Σq (i32). */
export function vecDotQ4_0Q8_0(w: usize, x: usize, xs: usize, nb: i32): f32 {
  const mask = i8x16.splat(0x0f);
  let acc: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const d = f16Lookup(load<u16>(w)) * load<f32>(xs);
    const q = v128.load(w, 2);
    acc = accumulateBlock(acc, blockDotQ4_0(offset8(xs), v128.and(q, mask), v128.and(i16x8.shr_u(q, 4), mask), x), d);
    w += <usize>Q4_0_BYTES;
    x += <usize>Q8_0_BYTES;
    xs += 8;
  }
  return acc;
}

/** Four rows at once: their four float chains in one vector, one fused multiply-add per block for all four. */
export function rowQuadQ4_0(out: usize, w0: usize, rowBytes: usize, x: usize, xs: usize, nb: i32): void {
  const mask = i8x16.splat(0x0f);
  const w1 = w0 + rowBytes, w2 = w1 + rowBytes, w3 = w2 + rowBytes;
  let acc = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    const o = <usize>(b * Q4_0_BYTES);
    const q0 = v128.load(w0 + o, 2), q1 = v128.load(w1 + o, 2), q2 = v128.load(w2 + o, 2), q3 = v128.load(w3 + o, 2);
    const zero = i32x4.splat(0);
    const s0 = blockDotQ4_0(zero, v128.and(q0, mask), v128.and(i16x8.shr_u(q0, 4), mask), x);
    const s1 = blockDotQ4_0(zero, v128.and(q1, mask), v128.and(i16x8.shr_u(q1, 4), mask), x);
    const s2 = blockDotQ4_0(zero, v128.and(q2, mask), v128.and(i16x8.shr_u(q2, 4), mask), x);
    const s3 = blockDotQ4_0(zero, v128.and(q3, mask), v128.and(i16x8.shr_u(q3, 4), mask), x);
    const d = f32x4.mul(scales4(w0 + o, w1 + o, w2 + o, w3 + o), f32x4.splat(load<f32>(xs)));
    // One activation block for all four rows: one "-8" term.
    acc = accumulateBlock4(acc, s0, s1, s2, s3, i32x4.splat(-8 * load<i32>(xs, 4)), d);
    x += <usize>Q8_0_BYTES;
    xs += 8;
  }
  v128.store(out, acc);
}

/** The four rows' f16 block scales as floats. */
@inline
export function scales4(a: usize, b: usize, c: usize, d: usize): v128 {
  let v = f32x4.splat(f16Lookup(load<u16>(a)));
  v = f32x4.replace_lane(v, 1, f16Lookup(load<u16>(b)));
  v = f32x4.replace_lane(v, 2, f16Lookup(load<u16>(c)));
  return f32x4.replace_lane(v, 3, f16Lookup(load<u16>(d)));
}

/**
 * Row of Q4_0 weights · Q8_0 activations for a matrix ggml-cpu does not repack (rows not a multiple of 8, as
 * stories260K's 172-row FFN): vec_dot_q4_0_q8_0's eight float lanes (lanes.ts), nibbles offset to -8..7 first.
 */
export function vecDotQ4_0Q8_0Unpacked(w: usize, x: usize, xs: usize, nb: i32): f32 {
  const mask = i8x16.splat(0x0f);
  const eight = i8x16.splat(8);
  let lo = f32x4.splat(0);
  let hi = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    const d = f16Lookup(load<u16>(w)) * load<f32>(xs);
    const q = v128.load(w, 2);
    const x0 = v128.load(x, 2);
    const x1 = v128.load(x, 18);
    lo = fmaLanes(lo, d, laneSumsI8(i8x16.sub(v128.and(q, mask), eight), x0, prepareI8(x0)));
    hi = fmaLanes(hi, d, laneSumsI8(i8x16.sub(v128.and(i16x8.shr_u(q, 4), mask), eight), x1, prepareI8(x1)));
    w += <usize>Q4_0_BYTES;
    x += <usize>Q8_0_BYTES;
    xs += 8;
  }
  return hsum8(lo, hi);
}
