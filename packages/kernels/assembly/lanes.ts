// The eight float lanes of ggml-cpu's x86 quantized dot products where it does not repack the weights
// (ggml_vec_dot_q8_0_q8_0 always; ggml_vec_dot_q4_0_q8_0 for matrices whose rows are not a multiple of 8; and
// llamafile's tinyBLAS_Q0_AVX, which adds alike, for batches): lane i holds Σ of elements 4i..4i+3 of each
// 32-element block as an exact integer, every block is added as fma(dw·dx, lane, acc) in float32, and the
// lanes are summed at the end as hsum_float_8. Lanes 0-3 here are one f32x4 (elements 0-15), 4-7 another.
import { fmaF32x4 } from "./fma";

/**
 * Lane i of the relaxed dot is Σ of elements 4i..4i+3. Reordering bytes to [0,1,4,5,8,9,12,13 | 2,3,6,7,…]
 * before widening makes the two i16 dots produce exactly those lane sums, so both variants round alike.
 */
@inline
export function relaxedLaneOrder(v: v128): v128 {
  return i8x16.shuffle(v, v, 0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15);
}

/**
 * lane i += Σ_j a[4i+j] · n[4i+j]: a signed activations (never -128; in "lane = row" kernels the same four in
 * every lane), n weights in 0..127 (nibbles, K-quant values).
 */
@inline
export function quadDots(a: v128, n: v128, acc: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return i32x4.relaxed_dot_i8x16_i7x16_add_s(a, n, acc);
  const rn = relaxedLaneOrder(n);
  const ra = relaxedLaneOrder(a);
  acc = i32x4.add(acc, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(ra), i16x8.extend_low_i8x16_u(rn)));
  return i32x4.add(acc, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(ra), i16x8.extend_high_i8x16_u(rn)));
}

/**
 * i16 lane i = x[2i]·w[2i] + x[2i+1]·w[2i+1] for 16 activations x (int8, never -128) and 16 weights w in
 * 0..63: relaxed, one i16x8 relaxed dot (w the 7-bit operand; pmaddubsw on x86); plain, two i16 dots to i32
 * pairs narrowed back (every pair sum fits: |x·w| ≤ 127·63).
 */
@inline
export function pairSums(x: v128, w: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return i16x8.relaxed_dot_i8x16_i7x16_s(x, w);
  return i16x8.narrow_i32x4_s(
    i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(x), i16x8.extend_low_i8x16_u(w)),
    i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(x), i16x8.extend_high_i8x16_u(w)),
  );
}

/** b's side of laneSumsI8, computed once when b meets several a's. */
@inline
export function prepareI8(b: v128): v128 {
  return ASC_FEATURE_RELAXED_SIMD ? i8x16.abs(b) : relaxedLaneOrder(b);
}

/**
 * Lane sums Σ_{j=4i..4i+3} a[j]·b[j] of 16 signed bytes (pb = prepareI8(b)). The relaxed build moves b's sign
 * onto a and takes |b| as the 7-bit operand of relaxed_dot_i8x16_i7x16 (what llama.cpp's _mm256_sign_epi8
 * pair does before vpdpbusd); plain SIMD widens to i16 in relaxed lane order. Both are exact.
 */
@inline
export function laneSumsI8(a: v128, b: v128, pb: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    const sign = i8x16.shr_s(b, 7);
    return i32x4.relaxed_dot_i8x16_i7x16_add_s(i8x16.sub(v128.xor(a, sign), sign), pb, i32x4.splat(0));
  }
  const ra = relaxedLaneOrder(a);
  return i32x4.add(
    i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(ra), i16x8.extend_low_i8x16_s(pb)),
    i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(ra), i16x8.extend_high_i8x16_s(pb)),
  );
}

/**
 * An activation half-block prepared for laneSumsWX, once for every weight row it meets: relaxed, its positive
 * and negative parts (each 0..127, so both are 7-bit operands; an activation is never -128); plain SIMD, its
 * bytes in relaxed lane order (and the second form unused).
 */
@inline
export function activationPlus(x: v128): v128 {
  return ASC_FEATURE_RELAXED_SIMD ? i8x16.max_s(x, i8x16.splat(0)) : relaxedLaneOrder(x);
}

@inline
export function activationMinus(x: v128): v128 {
  return ASC_FEATURE_RELAXED_SIMD ? i8x16.max_s(i8x16.neg(x), i8x16.splat(0)) : x;
}

/** laneSumsI8 of 16 weights (any int8, -128 included) with an activation prepared by activationPlus/Minus. */
@inline
export function laneSumsWX(w: v128, plus: v128, minus: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    return i32x4.sub(i32x4.relaxed_dot_i8x16_i7x16_add_s(w, plus, i32x4.splat(0)), i32x4.relaxed_dot_i8x16_i7x16_add_s(w, minus, i32x4.splat(0)));
  }
  const rw = relaxedLaneOrder(w);
  return i32x4.add(
    i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(rw), i16x8.extend_low_i8x16_s(plus)),
    i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(rw), i16x8.extend_high_i8x16_s(plus)),
  );
}

/** Four lanes acc + d·q (q integers, exact in float), each rounded once as a fused multiply-add. */
@inline
export function fmaLanes(acc: v128, d: f32, q: v128): v128 {
  return fmaF32x4(f32x4.splat(d), f32x4.convert_i32x4_s(q), acc);
}

/** hsum_float_8 of lanes 0-3 (lo) and 4-7 (hi): (lo + hi), then (0 + 2) + (1 + 3). */
@inline
export function hsum8(lo: v128, hi: v128): f32 {
  const r = f32x4.add(hi, lo);
  return (f32x4.extract_lane(r, 0) + f32x4.extract_lane(r, 2)) + (f32x4.extract_lane(r, 1) + f32x4.extract_lane(r, 3));
}
