// Relaxed-SIMD variants: i32x4.relaxed_dot_i8x16_i7x16_add_s takes the 0..15 nibbles as its 7-bit operand,
// which Node 24's V8 lowers to AVX-VNNI vpdpbusd (Node 22: pmaddubsw + pmaddwd).
import { f16Lookup } from "./f16";
import { Q8_0_BYTES } from "./q8_0";
import { accumulateBlock, accumulateBlock4, Q4_0_BYTES, offset8, scales4 } from "./q4_0";

/** One block's lane sums of nibbles (lo: elements 0-15, hi: 16-31) × the Q8_0 block at x. */
@inline
export function blockDotQ4_0Relaxed(lo: v128, hi: v128, x: usize, xs: usize): v128 {
  return i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(x, 18), hi, i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(x, 2), lo, offset8(xs)));
}

export function vecDotQ4_0Q8_0Relaxed(w: usize, x: usize, xs: usize, nb: i32): f32 {
  const mask = i8x16.splat(0x0f);
  let acc: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const d = f16Lookup(load<u16>(w)) * load<f32>(xs);
    const q = v128.load(w, 2);
    let s = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(x, 2), v128.and(q, mask), offset8(xs));
    s = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(x, 18), v128.and(i16x8.shr_u(q, 4), mask), s);
    acc = accumulateBlock(acc, s, d);
    w += <usize>Q4_0_BYTES;
    x += <usize>Q8_0_BYTES;
    xs += 8;
  }
  return acc;
}


/** Four rows at once: four independent float chains hide the latency of accumulateBlock's double round trip. */
export function rowQuadQ4_0Relaxed(out: usize, w0: usize, rowBytes: usize, x: usize, xs: usize, nb: i32): void {
  const mask = i8x16.splat(0x0f);
  const w1 = w0 + rowBytes, w2 = w1 + rowBytes, w3 = w2 + rowBytes;
  let acc = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    const o = <usize>(b * Q4_0_BYTES);
    const off = offset8(xs);
    const xa = v128.load(x, 2);
    const xb = v128.load(x, 18);
    const q0 = v128.load(w0 + o, 2), q1 = v128.load(w1 + o, 2), q2 = v128.load(w2 + o, 2), q3 = v128.load(w3 + o, 2);
    const s0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xb, v128.and(i16x8.shr_u(q0, 4), mask), i32x4.relaxed_dot_i8x16_i7x16_add_s(xa, v128.and(q0, mask), off));
    const s1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xb, v128.and(i16x8.shr_u(q1, 4), mask), i32x4.relaxed_dot_i8x16_i7x16_add_s(xa, v128.and(q1, mask), off));
    const s2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xb, v128.and(i16x8.shr_u(q2, 4), mask), i32x4.relaxed_dot_i8x16_i7x16_add_s(xa, v128.and(q2, mask), off));
    const s3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xb, v128.and(i16x8.shr_u(q3, 4), mask), i32x4.relaxed_dot_i8x16_i7x16_add_s(xa, v128.and(q3, mask), off));
    const d = f32x4.mul(scales4(w0 + o, w1 + o, w2 + o, w3 + o), f32x4.splat(load<f32>(xs)));
    acc = accumulateBlock4(acc, s0, s1, s2, s3, d);
    x += <usize>Q8_0_BYTES;
    xs += 8;
  }
  v128.store(out, acc);
}
