// Relaxed-SIMD variants: i32x4.relaxed_dot_i8x16_i7x16_add_s takes the 0..15 nibbles as its 7-bit operand,
// which Node 24's V8 lowers to AVX-VNNI vpdpbusd (Node 22: pmaddubsw + pmaddwd).
import { f16ToF32 } from "./f16";
import { Q8_0_BYTES } from "./q8_0";
import { Q4_0_BYTES } from "./q4_0";

/** One block's lane sums of nibbles (lo: elements 0-15, hi: 16-31) × the Q8_0 block at x. */
@inline
export function blockDotQ4_0Relaxed(lo: v128, hi: v128, x: usize): v128 {
  return i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(x, 18), hi, i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(x, 2), lo, i32x4.splat(0)));
}

export function vecDotQ4_0Q8_0Relaxed(w: usize, x: usize, xsum: usize, nb: i32): f32 {
  const mask = i8x16.splat(0x0f);
  const zero = i32x4.splat(0);
  let acc = f32x4.splat(0);
  let correction: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const d = f16ToF32(load<u16>(w)) * f16ToF32(load<u16>(x));
    const q = v128.load(w, 2);
    let s = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(x, 2), v128.and(q, mask), zero);
    s = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(x, 18), v128.and(i16x8.shr_u(q, 4), mask), s);
    acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(s), f32x4.splat(d)));
    correction += d * <f32>load<i32>(xsum);
    w += <usize>Q4_0_BYTES;
    x += <usize>Q8_0_BYTES;
    xsum += 4;
  }
  return f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3) - 8 * correction;
}
