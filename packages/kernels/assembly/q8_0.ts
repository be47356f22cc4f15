// Q8_0: blocks of 32 weights, an f16 scale then 32 int8 (34 bytes). Activations are quantized to Q8_0 before
// every quantized dot product, as ggml does.
import { f16Lookup, f16ToF32 } from "./f16";
import { accumulateBlock, accumulateBlock4, scales4 } from "./q4_0";

export const QK: i32 = 32;
export const Q8_0_BYTES: i32 = 34;

/** Float to half, round to nearest even (ggml's FP32_TO_FP16). */
export function f32ToF16(value: f32): u32 {
  const x = reinterpret<u32>(value);
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  const mantissa = x & 0x7fffff;
  if (exponent == 0xff) return sign | 0x7c00 | (mantissa ? 0x200 | (mantissa >>> 13) : 0);
  const e = <i32>exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    const significand = mantissa | 0x800000;
    const shift = <u32>(14 - e);
    const half = <u32>1 << (shift - 1);
    const rest = significand & ((<u32>1 << shift) - 1);
    let h = significand >>> shift;
    if (rest > half || (rest == half && (h & 1))) h++;
    return sign | h;
  }
  let h = (<u32>e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) h++;
  return sign | h;
}

/**
 * Quantizes n activations (n % 32 == 0) at src into Q8_0 blocks at dst exactly as ggml-cpu does on x86
 * (quantize_row_q8_0, AVX2 path: id = 127/amax, round half to even), which is what produced llama.cpp's
 * reference logits. Beside the blocks, `scales` gets per block d (f32) and Σq (i32): the kernels then convert
 * no activation scale, and subtract Q4_0's "8·Σq" in integers, exactly, before the one float scaling.
 */
export function quantizeRowQ8_0(dst: usize, scales: usize, src: usize, n: i32): void {
  for (let b = 0; b < n / QK; b++) {
    const x = src + <usize>(b * QK * 4);
    const v0 = v128.load(x), v1 = v128.load(x, 16), v2 = v128.load(x, 32), v3 = v128.load(x, 48);
    const v4 = v128.load(x, 64), v5 = v128.load(x, 80), v6 = v128.load(x, 96), v7 = v128.load(x, 112);
    let m = f32x4.max(f32x4.max(f32x4.abs(v0), f32x4.abs(v1)), f32x4.max(f32x4.abs(v2), f32x4.abs(v3)));
    m = f32x4.max(m, f32x4.max(f32x4.max(f32x4.abs(v4), f32x4.abs(v5)), f32x4.max(f32x4.abs(v6), f32x4.abs(v7))));
    const amax = Mathf.max(Mathf.max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), Mathf.max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
    const o = dst + <usize>(b * Q8_0_BYTES);
    store<u16>(o, <u16>f32ToF16(amax / 127));
    const id = f32x4.splat(amax != 0 ? <f32>127 / amax : 0);
    const q0 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v0, id)));
    const q1 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v1, id)));
    const q2 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v2, id)));
    const q3 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v3, id)));
    const q4 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v4, id)));
    const q5 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v5, id)));
    const q6 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v6, id)));
    const q7 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v7, id)));
    v128.store(o + 2, i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(q0, q1), i16x8.narrow_i32x4_s(q2, q3)));
    v128.store(o + 18, i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(q4, q5), i16x8.narrow_i32x4_s(q6, q7)));
    const s = i32x4.add(i32x4.add(i32x4.add(q0, q1), i32x4.add(q2, q3)), i32x4.add(i32x4.add(q4, q5), i32x4.add(q6, q7)));
    const sum = i32x4.extract_lane(s, 0) + i32x4.extract_lane(s, 1) + i32x4.extract_lane(s, 2) + i32x4.extract_lane(s, 3);
    store<f32>(scales + <usize>(b * 8), f16ToF32(load<u16>(o)));
    store<i32>(scales + <usize>(b * 8), sum, 4);
  }
}

/** Σ over blocks of d_w·d_x·(w·x) for Q8_0 weights and Q8_0 activations. */
export function vecDotQ8_0Q8_0(w: usize, x: usize, xs: usize, nb: i32): f32 {
  let acc: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const d = f16Lookup(load<u16>(w)) * load<f32>(xs);
    xs += 8;
    const s = dotI8x32(w + 2, x + 2);
    acc = accumulateBlock(acc, s, d);
    w += <usize>Q8_0_BYTES;
    x += <usize>Q8_0_BYTES;
  }
  return acc;
}

/** Lane-wise partial sums (i32x4) of 32 int8 × int8 products, with plain SIMD: i8 → i16, then i16 dot. */
@inline
function dotI8x32(a: usize, b: usize): v128 {
  const a0 = v128.load(a);
  const a1 = v128.load(a, 16);
  const b0 = v128.load(b);
  const b1 = v128.load(b, 16);
  let s = i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(a0), i16x8.extend_low_i8x16_s(b0));
  s = i32x4.add(s, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(a0), i16x8.extend_high_i8x16_s(b0)));
  s = i32x4.add(s, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(a1), i16x8.extend_low_i8x16_s(b1)));
  return i32x4.add(s, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(a1), i16x8.extend_high_i8x16_s(b1)));
}

/** Dequantizes n Q8_0 values at src into floats at dst. */
export function dequantizeRowQ8_0(dst: usize, src: usize, n: i32): void {
  for (let b = 0; b < n / QK; b++) {
    const o = src + <usize>(b * Q8_0_BYTES);
    const d = f16ToF32(load<u16>(o));
    for (let j = 0; j < QK; j++) store<f32>(dst + <usize>((b * QK + j) * 4), <f32>load<i8>(o + 2 + <usize>j) * d);
  }
}

/** The i32x4 lane sums of one Q8_0 weight block (at w) times the activation block already widened to i16. */
@inline
function blockDotQ8_0(w: usize, xl0: v128, xh0: v128, xl1: v128, xh1: v128): v128 {
  const w0 = v128.load(w, 2);
  const w1 = v128.load(w, 18);
  let s = i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(w0), xl0);
  s = i32x4.add(s, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(w0), xh0));
  s = i32x4.add(s, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(w1), xl1));
  return i32x4.add(s, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(w1), xh1));
}

/** Four Q8_0 rows against one activation row: the activation block widened once, four float chains in a vector. */
export function rowQuadQ8_0(out: usize, w0: usize, rowBytes: usize, x: usize, xs: usize, nb: i32): void {
  const w1 = w0 + rowBytes, w2 = w1 + rowBytes, w3 = w2 + rowBytes;
  let acc = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    const o = <usize>(b * Q8_0_BYTES);
    const x0 = v128.load(x, 2);
    const x1 = v128.load(x, 18);
    const xl0 = i16x8.extend_low_i8x16_s(x0), xh0 = i16x8.extend_high_i8x16_s(x0);
    const xl1 = i16x8.extend_low_i8x16_s(x1), xh1 = i16x8.extend_high_i8x16_s(x1);
    const d = f32x4.mul(scales4(w0 + o, w1 + o, w2 + o, w3 + o), f32x4.splat(load<f32>(xs)));
    acc = accumulateBlock4(
      acc,
      blockDotQ8_0(w0 + o, xl0, xh0, xl1, xh1), blockDotQ8_0(w1 + o, xl0, xh0, xl1, xh1),
      blockDotQ8_0(w2 + o, xl0, xh0, xl1, xh1), blockDotQ8_0(w3 + o, xl0, xh0, xl1, xh1),
      d,
    );
    x += <usize>Q8_0_BYTES;
    xs += 8;
  }
  v128.store(out, acc);
}

/** One Q8_0 weight row against four activation rows (columns): the weight block widened once. */
export function colQuadQ8_0(w: usize, x0: usize, xStride: usize, xs0: usize, xsStride: usize, nb: i32): v128 {
  let acc = f32x4.splat(0);
  const x1 = x0 + xStride, x2 = x1 + xStride, x3 = x2 + xStride;
  const s1 = xs0 + xsStride, s2 = s1 + xsStride, s3 = s2 + xsStride;
  for (let b = 0; b < nb; b++) {
    const o = <usize>(b * Q8_0_BYTES);
    const so = <usize>(b * 8);
    const w0 = v128.load(w + o, 2);
    const w1 = v128.load(w + o, 18);
    const wl0 = i16x8.extend_low_i8x16_s(w0), wh0 = i16x8.extend_high_i8x16_s(w0);
    const wl1 = i16x8.extend_low_i8x16_s(w1), wh1 = i16x8.extend_high_i8x16_s(w1);
    let dx = f32x4.splat(load<f32>(xs0 + so));
    dx = f32x4.replace_lane(dx, 1, load<f32>(s1 + so));
    dx = f32x4.replace_lane(dx, 2, load<f32>(s2 + so));
    dx = f32x4.replace_lane(dx, 3, load<f32>(s3 + so));
    acc = accumulateBlock4(
      acc,
      blockDotQ8_0(x0 + o, wl0, wh0, wl1, wh1), blockDotQ8_0(x1 + o, wl0, wh0, wl1, wh1),
      blockDotQ8_0(x2 + o, wl0, wh0, wl1, wh1), blockDotQ8_0(x3 + o, wl0, wh0, wl1, wh1),
      f32x4.mul(f32x4.splat(f16Lookup(load<u16>(w + o))), dx),
    );
  }
  return acc;
}
