// Float kernels: F16 weights take F16 activations (ggml's vec_dot_type for F16, so activations are rounded to
// half first, as llama.cpp does), F32 weights take F32 activations. Accumulation is float32.
import { fmaF32, fmaF32x4, reduceAdd16 } from "./fma";
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

/**
 * Σ a[i]·b[i] over n halves as ggml_vec_dot_f16 computes it on AVX-512 without AVX512-FP16 (AMD Zen 4/5;
 * Intel's Sapphire Rapids has FP16 and sums in half precision there, which this does not follow): halves
 * widened to floats in ggml_vec_dot_f32's 64 lanes over n & ~63 elements, reduced the same way, then the rest
 * added one product at a time to that sum in double (ggml_float), rounded to float once at the end.
 */
export function vecDotF16F16(a: usize, b: usize, n: i32): f32 {
  const np = n & ~63;
  const steps = np >> 6;
  let sum: f64 = np > 0
    ? <f64>reduceAdd16(laneVectorF16(a, b, steps, 0), laneVectorF16(a, b, steps, 1), laneVectorF16(a, b, steps, 2), laneVectorF16(a, b, steps, 3))
    : 0;
  for (let i = np; i < n; i++) sum += <f64>(f16Scalar(load<u16>(a + <usize>(i * 2))) * f16Scalar(load<u16>(b + <usize>(i * 2))));
  return <f32>sum;
}

/** laneVector for halves: lanes 4·jj..4·jj+3 of ggml_vec_dot_f16's four 16-lane accumulators, x0 + x2 + (x1 + x3). */
@inline
function laneVectorF16(a: usize, b: usize, steps: i32, jj: i32): v128 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  for (let s = 0; s < steps; s++) {
    const at = <usize>((s * 64 + jj * 4) * 2);
    a0 = fmaF32x4(fourHalves(a + at), fourHalves(b + at), a0);
    a1 = fmaF32x4(fourHalves(a + at + 32), fourHalves(b + at + 32), a1);
    a2 = fmaF32x4(fourHalves(a + at + 64), fourHalves(b + at + 64), a2);
    a3 = fmaF32x4(fourHalves(a + at + 96), fourHalves(b + at + 96), a3);
  }
  return f32x4.add(f32x4.add(a0, a2), f32x4.add(a1, a3));
}

/** Four halves at p as floats. */
@inline
function fourHalves(p: usize): v128 {
  return halvesLow(v128.load64_zero(p));
}

@inline
function f16Scalar(h: u16): f32 {
  return f32x4.extract_lane(halfLanesToF32(i32x4.splat(<i32>h)), 0);
}

/**
 * The four f32x4 of 16 lanes that ggml_vec_dot_f32's AVX-512 path ends with before its horizontal sum: lane l
 * of accumulator k (k = 0..3) takes element 64·s + 16·k + l of every 64-element step s with a fused
 * multiply-add, then x0 + x2 and x1 + x3 are added, and those two. This returns lanes 4·jj..4·jj+3. a is
 * contiguous; b's elements lie strideB bytes apart (4 for a dot product, a cache row for attention's ·V).
 */
@inline
function laneVector(a: usize, b: usize, strideB: usize, steps: i32, jj: i32, limit: i32): v128 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  for (let s = 0; s < steps; s++) {
    const i = s * 64 + jj * 4;
    a0 = fmaF32x4(loadUpTo(a, i, limit, 0), termsB(b, strideB, i, limit), a0);
    a1 = fmaF32x4(loadUpTo(a, i + 16, limit, 0), termsB(b, strideB, i + 16, limit), a1);
    a2 = fmaF32x4(loadUpTo(a, i + 32, limit, 0), termsB(b, strideB, i + 32, limit), a2);
    a3 = fmaF32x4(loadUpTo(a, i + 48, limit, 0), termsB(b, strideB, i + 48, limit), a3);
  }
  return f32x4.add(f32x4.add(a0, a2), f32x4.add(a1, a3));
}

/** Floats i..i+3 of a contiguous array, `fill` past `limit` (a lane-wise load that never reads past it). */
@inline
export function loadUpTo(a: usize, i: i32, limit: i32, fill: f32): v128 {
  if (i + 4 <= limit) return v128.load(a + <usize>(i * 4));
  let v = f32x4.splat(fill);
  if (i < limit) v = f32x4.replace_lane(v, 0, load<f32>(a + <usize>(i * 4)));
  if (i + 1 < limit) v = f32x4.replace_lane(v, 1, load<f32>(a + <usize>(i * 4), 4));
  if (i + 2 < limit) v = f32x4.replace_lane(v, 2, load<f32>(a + <usize>(i * 4), 8));
  return v;
}

/** Floats i..i+3 of an array whose elements lie `stride` bytes apart (4: contiguous), zero past `limit`. */
@inline
function termsB(b: usize, stride: usize, i: i32, limit: i32): v128 {
  if (stride == 4) return loadUpTo(b, i, limit, 0);
  let v = f32x4.splat(0);
  const p = b + <usize>i * stride;
  if (i < limit) v = f32x4.replace_lane(v, 0, load<f32>(p));
  if (i + 1 < limit) v = f32x4.replace_lane(v, 1, load<f32>(p + stride));
  if (i + 2 < limit) v = f32x4.replace_lane(v, 2, load<f32>(p + 2 * stride));
  if (i + 3 < limit) v = f32x4.replace_lane(v, 3, load<f32>(p + 3 * stride));
  return v;
}

/**
 * Σ a[i]·b[i] over the first `padded` elements (a multiple of 64; elements past n count as zero) in the order
 * of ggml_vec_dot_f32's AVX-512 path: 64 float lanes of fused multiply-adds, reduced as GGML_F32x16_REDUCE.
 */
@inline
export function dotF32Lanes(a: usize, b: usize, strideB: usize, n: i32, padded: i32): f32 {
  const steps = padded >> 6;
  return reduceAdd16(
    laneVector(a, b, strideB, steps, 0, n), laneVector(a, b, strideB, steps, 1, n),
    laneVector(a, b, strideB, steps, 2, n), laneVector(a, b, strideB, steps, 3, n),
  );
}

/**
 * Σ a[i]·b[i] over n floats (b's elements strideB bytes apart) in the order of llamafile's tinyBLAS (sgemm.cpp,
 * AVX-512: 16 lanes), which ggml-cpu's mul_mat takes when the activations are contiguous, number two or more
 * (llamafile_sgemm refuses n < 2) and the shared dimension is a multiple of 16: lane l sums the elements
 * i ≡ l (mod 16) in order with fused multiply-adds,
 * then _mm512_reduce_add_ps adds the lanes. Elements past n count as zero (llama.cpp pads its KV length).
 */
export function dotF32Sgemm(a: usize, b: usize, strideB: usize, n: i32): f32 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  for (let i = 0; i < n; i += 16) {
    a0 = fmaF32x4(loadUpTo(a, i, n, 0), termsB(b, strideB, i, n), a0);
    a1 = fmaF32x4(loadUpTo(a, i + 4, n, 0), termsB(b, strideB, i + 4, n), a1);
    a2 = fmaF32x4(loadUpTo(a, i + 8, n, 0), termsB(b, strideB, i + 8, n), a2);
    a3 = fmaF32x4(loadUpTo(a, i + 12, n, 0), termsB(b, strideB, i + 12, n), a3);
  }
  return reduceAdd16(a0, a1, a2, a3);
}

/**
 * Σ a[i]·b[i] over n halves (n % 16 == 0) in tinyBLAS's order for F16 × F16 (sgemm.cpp, AVX-512: each 16
 * halves widened to floats, lane l of 16 summing elements i ≡ l (mod 16) with fused multiply-adds, then
 * _mm512_reduce_add_ps). A product of two halves is exact in float, so only the lanes' order matters.
 */
export function dotF16Sgemm(a: usize, b: usize, n: i32): f32 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  for (let i = 0; i < n; i += 16) {
    const x0 = v128.load(a + <usize>(i * 2)), x1 = v128.load(a + <usize>(i * 2), 16);
    const y0 = v128.load(b + <usize>(i * 2)), y1 = v128.load(b + <usize>(i * 2), 16);
    a0 = fmaF32x4(halvesLow(x0), halvesLow(y0), a0);
    a1 = fmaF32x4(halvesHigh(x0), halvesHigh(y0), a1);
    a2 = fmaF32x4(halvesLow(x1), halvesLow(y1), a2);
    a3 = fmaF32x4(halvesHigh(x1), halvesHigh(y1), a3);
  }
  return reduceAdd16(a0, a1, a2, a3);
}

/**
 * out[c·outStride + r] = row r of W (F32) · activation row c, for rows [r0, r1) and n ≥ 2 activation rows, in
 * tinyBLAS's order (dotF32Sgemm): llama.cpp's mul_mat for a batch when the matrix has a multiple of 4 rows
 * and of 16 columns (GgmlTypeTraits.batchedWhen; other matrices go row by row through matvecF32, as ggml's).
 */
export function matmulF32(out: usize, outStride: i32, w: usize, rowBytes: i32, x: usize, xStride: i32, _xs: usize, nb: i32, r0: i32, r1: i32, n: i32, _scratch: usize): void {
  for (let c = 0; c < n; c++) {
    const xc = x + <usize>(c * xStride);
    for (let r = r0; r < r1; r++) store<f32>(out + <usize>((c * outStride + r) * 4), dotF32Sgemm(w + <usize>r * <usize>rowBytes, xc, 4, nb));
  }
}

/** matmulF32 for F16 weights and F16 activations (tinyBLAS's F16 × F16, dotF16Sgemm). */
export function matmulF16(out: usize, outStride: i32, w: usize, rowBytes: i32, x: usize, xStride: i32, _xs: usize, nb: i32, r0: i32, r1: i32, n: i32, _scratch: usize): void {
  for (let c = 0; c < n; c++) {
    const xc = x + <usize>(c * xStride);
    for (let r = r0; r < r1; r++) store<f32>(out + <usize>((c * outStride + r) * 4), dotF16Sgemm(w + <usize>r * <usize>rowBytes, xc, nb));
  }
}

/**
 * Σ a[i]·b[i] over n floats as llama.cpp's x86 build computes it (ggml_vec_dot_f32, AVX-512): the first
 * n & ~63 elements in 64 lanes, then the rest one by one into the float sum. GCC vectorises that tail loop
 * (seen in libggml-cpu's disassembly): the products of groups of 16 and 8 are rounded before each is added,
 * and only the last n % 8 are contracted into fused multiply-adds. A short dot (a small head's q·k) is all tail.
 */
export function vecDotF32F32(a: usize, b: usize, n: i32): f32 {
  const np = n & ~63;
  const fused = n - ((n - np) & 7);
  let sum: f32 = np > 0 ? dotF32Lanes(a, b, 4, np, np) : 0;
  let i = np;
  for (; i < fused; i++) sum += load<f32>(a + <usize>(i * 4)) * load<f32>(b + <usize>(i * 4));
  for (; i < n; i++) sum = fmaF32(load<f32>(a + <usize>(i * 4)), load<f32>(b + <usize>(i * 4)), sum);
  return sum;
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
