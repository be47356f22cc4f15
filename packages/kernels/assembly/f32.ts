// Float kernels: F16 weights take F16 activations (ggml's vec_dot_type for F16, so activations are rounded to
// half first, as llama.cpp does), F32 weights take F32 activations. Accumulation is float32.
import { f32ToF16 } from "./q8_0";

/** Eight halves (u16 lanes) to two f32x4, exact for every half including subnormals, infinities and NaNs. */
@inline
export function halvesLow(h: v128): v128 {
  return halfLanesToF32(i32x4.extend_low_i16x8_u(h));
}
@inline
export function halvesHigh(h: v128): v128 {
  return halfLanesToF32(i32x4.extend_high_i16x8_u(h));
}
/**
 * Half bits (u32 lanes) to floats by rebiasing the exponent, with two selected fix-ups: subnormal halves are
 * renormalised by one subtraction of normal floats, and infinities/NaNs keep an all-ones exponent. No lane
 * ever computes on a subnormal float (those can cost a microcode assist per operation on x86).
 */
@inline
export function halfLanesToF32(h: v128): v128 {
  const sign = i32x4.shl(v128.and(h, i32x4.splat(0x8000)), 16);
  const o = i32x4.shl(v128.and(h, i32x4.splat(0x7fff)), 13);
  const exponent = v128.and(o, i32x4.splat(0x0f800000));
  const normal = i32x4.add(o, i32x4.splat(0x38000000));
  const subnormal = f32x4.sub(i32x4.add(o, i32x4.splat(0x38800000)), f32x4.splat(6.103515625e-5));
  const special = i32x4.add(o, i32x4.splat(0x70000000));
  let r = v128.bitselect(subnormal, normal, i32x4.eq(exponent, i32x4.splat(0)));
  r = v128.bitselect(special, r, i32x4.eq(exponent, i32x4.splat(0x0f800000)));
  return v128.or(sign, r);
}

/** Σ a[i]·b[i] over n halves (n % 8 == 0 is fastest; any n works). */
export function vecDotF16F16(a: usize, b: usize, n: i32): f32 {
  let acc0 = f32x4.splat(0);
  let acc1 = f32x4.splat(0);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const x = v128.load(a + <usize>(i * 2));
    const y = v128.load(b + <usize>(i * 2));
    acc0 = f32x4.add(acc0, f32x4.mul(halvesLow(x), halvesLow(y)));
    acc1 = f32x4.add(acc1, f32x4.mul(halvesHigh(x), halvesHigh(y)));
  }
  const acc = f32x4.add(acc0, acc1);
  let sum = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
  for (; i < n; i++) sum += f16Scalar(load<u16>(a + <usize>(i * 2))) * f16Scalar(load<u16>(b + <usize>(i * 2)));
  return sum;
}

@inline
function f16Scalar(h: u16): f32 {
  return f32x4.extract_lane(halfLanesToF32(i32x4.splat(<i32>h)), 0);
}

/**
 * Σ a[i]·b[i] over n floats: float32 products summed in double, as ggml_vec_dot_f32 does for the elements it
 * does not vectorise (all of a dot shorter than its 32- or 64-float SIMD step, e.g. a small head's q·k); for
 * long dots ggml's float32 lanes and ours differ only in the last bits either way.
 */
export function vecDotF32F32(a: usize, b: usize, n: i32): f32 {
  let acc = f64x2.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const p = f32x4.mul(v128.load(a + <usize>(i * 4)), v128.load(b + <usize>(i * 4)));
    acc = f64x2.add(acc, f64x2.add(f64x2.promote_low_f32x4(p), f64x2.promote_low_f32x4(i32x4.shuffle(p, p, 2, 3, 0, 1))));
  }
  let sum = f64x2.extract_lane(acc, 0) + f64x2.extract_lane(acc, 1);
  for (; i < n; i++) sum += <f64>(load<f32>(a + <usize>(i * 4)) * load<f32>(b + <usize>(i * 4)));
  return <f32>sum;
}

/** Floats to halves, round to nearest even (activations for F16 weights). Signature as quantizeRowQ8_0's. */
export function convertRowF16(dst: usize, _sums: usize, src: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<u16>(dst + <usize>(i * 2), <u16>f32ToF16(load<f32>(src + <usize>(i * 4))));
}

export function copyRowF32(dst: usize, _sums: usize, src: usize, n: i32): void {
  memory.copy(dst, src, <usize>(n * 4));
}

/** out[r] = row r of W (F16, rowBytes apart) · x (F16), for rows [r0, r1). */
export function matvecF16(out: usize, w: usize, rowBytes: i32, x: usize, _xsum: usize, n: i32, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) store<f32>(out + <usize>(r * 4), vecDotF16F16(w + <usize>r * <usize>rowBytes, x, n));
}

/** out[r] = row r of W (F32) · x (F32), for rows [r0, r1). */
export function matvecF32(out: usize, w: usize, rowBytes: i32, x: usize, _xsum: usize, n: i32, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) store<f32>(out + <usize>(r * 4), vecDotF32F32(w + <usize>r * <usize>rowBytes, x, n));
}

/** Sums a region with v128 loads: the machine's streaming read bandwidth, for benchmarks' ratios. */
export function streamRead(src: usize, bytes: i32): i32 {
  let acc = i32x4.splat(0);
  const end = src + <usize>bytes;
  for (let p = src; p + 64 <= end; p += 64) {
    acc = i32x4.add(acc, i32x4.add(i32x4.add(v128.load(p), v128.load(p, 16)), i32x4.add(v128.load(p, 32), v128.load(p, 48))));
  }
  return i32x4.extract_lane(acc, 0) ^ i32x4.extract_lane(acc, 1) ^ i32x4.extract_lane(acc, 2) ^ i32x4.extract_lane(acc, 3);
}
