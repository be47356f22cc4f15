// Relaxed-SIMD variants: i32x4.relaxed_dot_i8x16_i7x16_add_s takes the 0..15 nibbles as its 7-bit operand,
// which Node 24's V8 lowers to AVX-VNNI vpdpbusd (Node 22: pmaddubsw + pmaddwd).
import { f16Lookup } from "./f16";
import { Q8_0_BYTES } from "./q8_0";
import { accumulateBlock, Q4_0_BYTES, offset8 } from "./q4_0";

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
  let acc0: f32 = 0, acc1: f32 = 0, acc2: f32 = 0, acc3: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const o = <usize>(b * Q4_0_BYTES);
    const xd = load<f32>(xs);
    const off = offset8(xs);
    const xa = v128.load(x, 2);
    const xb = v128.load(x, 18);
    const q0 = v128.load(w0 + o, 2), q1 = v128.load(w1 + o, 2), q2 = v128.load(w2 + o, 2), q3 = v128.load(w3 + o, 2);
    const s0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xb, v128.and(i16x8.shr_u(q0, 4), mask), i32x4.relaxed_dot_i8x16_i7x16_add_s(xa, v128.and(q0, mask), off));
    const s1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xb, v128.and(i16x8.shr_u(q1, 4), mask), i32x4.relaxed_dot_i8x16_i7x16_add_s(xa, v128.and(q1, mask), off));
    const s2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xb, v128.and(i16x8.shr_u(q2, 4), mask), i32x4.relaxed_dot_i8x16_i7x16_add_s(xa, v128.and(q2, mask), off));
    const s3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xb, v128.and(i16x8.shr_u(q3, 4), mask), i32x4.relaxed_dot_i8x16_i7x16_add_s(xa, v128.and(q3, mask), off));
    acc0 = accumulateBlock(acc0, s0, f16Lookup(load<u16>(w0 + o)) * xd);
    acc1 = accumulateBlock(acc1, s1, f16Lookup(load<u16>(w1 + o)) * xd);
    acc2 = accumulateBlock(acc2, s2, f16Lookup(load<u16>(w2 + o)) * xd);
    acc3 = accumulateBlock(acc3, s3, f16Lookup(load<u16>(w3 + o)) * xd);
    x += <usize>Q8_0_BYTES;
    xs += 8;
  }
  store<f32>(out, acc0);
  store<f32>(out, acc1, 4);
  store<f32>(out, acc2, 8);
  store<f32>(out, acc3, 12);
}
