// The relaxed-SIMD block dot: i32x4.relaxed_dot_i8x16_i7x16_add_s takes the 0..15 nibbles as its 7-bit
// operand, which Node 24's V8 lowers to AVX-VNNI vpdpbusd (Node 22: pmaddubsw + pmaddwd). Compiled only into
// the relaxed build (q4_0.ts picks it under ASC_FEATURE_RELAXED_SIMD).

/** One block's lane sums of nibbles (lo: elements 0-15, hi: 16-31) × the Q8_0 block at x, added to init. */
@inline
export function blockDotQ4_0Relaxed(init: v128, lo: v128, hi: v128, x: usize): v128 {
  return i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(x, 18), hi, i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(x, 2), lo, init));
}
