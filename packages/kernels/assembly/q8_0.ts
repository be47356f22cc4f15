// Q8_0: blocks of 32 weights, an f16 scale then 32 int8 (34 bytes). Activations are quantized to Q8_0 before
// every quantized dot product, as ggml does.
import { f16Lookup, f16ToF32 } from "./f16";
import { activationMinus, activationPlus, fmaLanes, hsum8, laneSumsI8, laneSumsWX, prepareI8 } from "./lanes";

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
    const amax = absMax32(x);
    const o = dst + <usize>(b * Q8_0_BYTES);
    store<u16>(o, <u16>f32ToF16(amax / 127));
    const sum = quantize32(o + 2, x, amax);
    store<f32>(scales + <usize>(b * 8), f16ToF32(load<u16>(o)));
    store<i32>(scales + <usize>(b * 8), sum, 4);
  }
}

/** The largest |x| of the 32 floats at x (max is exact, so any order gives ggml's). */
@inline
export function absMax32(x: usize): f32 {
  const v0 = v128.load(x), v1 = v128.load(x, 16), v2 = v128.load(x, 32), v3 = v128.load(x, 48);
  const v4 = v128.load(x, 64), v5 = v128.load(x, 80), v6 = v128.load(x, 96), v7 = v128.load(x, 112);
  let m = f32x4.max(f32x4.max(f32x4.abs(v0), f32x4.abs(v1)), f32x4.max(f32x4.abs(v2), f32x4.abs(v3)));
  m = f32x4.max(m, f32x4.max(f32x4.max(f32x4.abs(v4), f32x4.abs(v5)), f32x4.max(f32x4.abs(v6), f32x4.abs(v7))));
  return Mathf.max(Mathf.max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), Mathf.max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
}

/**
 * The 32 floats at x as int8 at q, as ggml-cpu's x86 quantize_row_q8_0/q8_1 round them (x · 127/amax, half to
 * even); returns their sum.
 */
@inline
export function quantize32(q: usize, x: usize, amax: f32): i32 {
  const id = f32x4.splat(amax != 0 ? <f32>127 / amax : 0);
  const q0 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(x), id)));
  const q1 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(x, 16), id)));
  const q2 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(x, 32), id)));
  const q3 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(x, 48), id)));
  const q4 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(x, 64), id)));
  const q5 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(x, 80), id)));
  const q6 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(x, 96), id)));
  const q7 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(x, 112), id)));
  v128.store(q, i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(q0, q1), i16x8.narrow_i32x4_s(q2, q3)));
  v128.store(q + 16, i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(q4, q5), i16x8.narrow_i32x4_s(q6, q7)));
  const s = i32x4.add(i32x4.add(i32x4.add(q0, q1), i32x4.add(q2, q3)), i32x4.add(i32x4.add(q4, q5), i32x4.add(q6, q7)));
  return i32x4.extract_lane(s, 0) + i32x4.extract_lane(s, 1) + i32x4.extract_lane(s, 2) + i32x4.extract_lane(s, 3);
}

/**
 * Σ over blocks of d_w·d_x·(w·x) for Q8_0 weights and Q8_0 activations, in ggml_vec_dot_q8_0_q8_0's eight
 * float lanes (lanes.ts): x86 never repacks Q8_0, so this is llama.cpp's arithmetic for every Q8_0 matrix.
 */
export function vecDotQ8_0Q8_0(w: usize, x: usize, xs: usize, nb: i32): f32 {
  let lo = f32x4.splat(0);
  let hi = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    const d = f16Lookup(load<u16>(w)) * load<f32>(xs);
    const x0 = v128.load(x, 2);
    const x1 = v128.load(x, 18);
    lo = fmaLanes(lo, d, laneSumsWX(v128.load(w, 2), activationPlus(x0), activationMinus(x0)));
    hi = fmaLanes(hi, d, laneSumsWX(v128.load(w, 18), activationPlus(x1), activationMinus(x1)));
    w += <usize>Q8_0_BYTES;
    x += <usize>Q8_0_BYTES;
    xs += 8;
  }
  return hsum8(lo, hi);
}

/** Dequantizes n Q8_0 values at src into floats at dst. */
export function dequantizeRowQ8_0(dst: usize, src: usize, n: i32): void {
  for (let b = 0; b < n / QK; b++) {
    const o = src + <usize>(b * Q8_0_BYTES);
    const d = f16ToF32(load<u16>(o));
    for (let j = 0; j < QK; j++) store<f32>(dst + <usize>((b * QK + j) * 4), <f32>load<i8>(o + 2 + <usize>j) * d);
  }
}

/** Four Q8_0 rows against one activation row: each activation half-block prepared once for the four rows. */
export function rowQuadQ8_0(out: usize, w0: usize, rowBytes: usize, x: usize, xs: usize, nb: i32): void {
  const w1 = w0 + rowBytes, w2 = w1 + rowBytes, w3 = w2 + rowBytes;
  let lo0 = f32x4.splat(0), hi0 = f32x4.splat(0), lo1 = f32x4.splat(0), hi1 = f32x4.splat(0);
  let lo2 = f32x4.splat(0), hi2 = f32x4.splat(0), lo3 = f32x4.splat(0), hi3 = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    const o = <usize>(b * Q8_0_BYTES);
    const x0 = v128.load(x, 2);
    const x1 = v128.load(x, 18);
    const p0 = activationPlus(x0), m0 = activationMinus(x0);
    const p1 = activationPlus(x1), m1 = activationMinus(x1);
    const dx = load<f32>(xs);
    let d = f16Lookup(load<u16>(w0 + o)) * dx;
    lo0 = fmaLanes(lo0, d, laneSumsWX(v128.load(w0 + o, 2), p0, m0));
    hi0 = fmaLanes(hi0, d, laneSumsWX(v128.load(w0 + o, 18), p1, m1));
    d = f16Lookup(load<u16>(w1 + o)) * dx;
    lo1 = fmaLanes(lo1, d, laneSumsWX(v128.load(w1 + o, 2), p0, m0));
    hi1 = fmaLanes(hi1, d, laneSumsWX(v128.load(w1 + o, 18), p1, m1));
    d = f16Lookup(load<u16>(w2 + o)) * dx;
    lo2 = fmaLanes(lo2, d, laneSumsWX(v128.load(w2 + o, 2), p0, m0));
    hi2 = fmaLanes(hi2, d, laneSumsWX(v128.load(w2 + o, 18), p1, m1));
    d = f16Lookup(load<u16>(w3 + o)) * dx;
    lo3 = fmaLanes(lo3, d, laneSumsWX(v128.load(w3 + o, 2), p0, m0));
    hi3 = fmaLanes(hi3, d, laneSumsWX(v128.load(w3 + o, 18), p1, m1));
    x += <usize>Q8_0_BYTES;
    xs += 8;
  }
  store<f32>(out, hsum8(lo0, hi0));
  store<f32>(out, hsum8(lo1, hi1), 4);
  store<f32>(out, hsum8(lo2, hi2), 8);
  store<f32>(out, hsum8(lo3, hi3), 12);
}

/** One Q8_0 weight row against four activation rows (columns): each weight block prepared once. */
export function colQuadQ8_0(w: usize, x0: usize, xStride: usize, xs0: usize, xsStride: usize, nb: i32): v128 {
  const x1 = x0 + xStride, x2 = x1 + xStride, x3 = x2 + xStride;
  const s1 = xs0 + xsStride, s2 = s1 + xsStride, s3 = s2 + xsStride;
  let lo0 = f32x4.splat(0), hi0 = f32x4.splat(0), lo1 = f32x4.splat(0), hi1 = f32x4.splat(0);
  let lo2 = f32x4.splat(0), hi2 = f32x4.splat(0), lo3 = f32x4.splat(0), hi3 = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    const o = <usize>(b * Q8_0_BYTES);
    const so = <usize>(b * 8);
    const w0 = v128.load(w + o, 2);
    const w1 = v128.load(w + o, 18);
    const p0 = prepareI8(w0);
    const p1 = prepareI8(w1);
    const dw = f16Lookup(load<u16>(w + o));
    let d = dw * load<f32>(xs0 + so);
    lo0 = fmaLanes(lo0, d, laneSumsI8(v128.load(x0 + o, 2), w0, p0));
    hi0 = fmaLanes(hi0, d, laneSumsI8(v128.load(x0 + o, 18), w1, p1));
    d = dw * load<f32>(s1 + so);
    lo1 = fmaLanes(lo1, d, laneSumsI8(v128.load(x1 + o, 2), w0, p0));
    hi1 = fmaLanes(hi1, d, laneSumsI8(v128.load(x1 + o, 18), w1, p1));
    d = dw * load<f32>(s2 + so);
    lo2 = fmaLanes(lo2, d, laneSumsI8(v128.load(x2 + o, 2), w0, p0));
    hi2 = fmaLanes(hi2, d, laneSumsI8(v128.load(x2 + o, 18), w1, p1));
    d = dw * load<f32>(s3 + so);
    lo3 = fmaLanes(lo3, d, laneSumsI8(v128.load(x3 + o, 2), w0, p0));
    hi3 = fmaLanes(hi3, d, laneSumsI8(v128.load(x3 + o, 18), w1, p1));
  }
  let r = f32x4.splat(hsum8(lo0, hi0));
  r = f32x4.replace_lane(r, 1, hsum8(lo1, hi1));
  r = f32x4.replace_lane(r, 2, hsum8(lo2, hi2));
  return f32x4.replace_lane(r, 3, hsum8(lo3, hi3));
}
