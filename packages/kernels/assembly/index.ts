// One source, two builds: `asc --enable relaxed-simd` and plain simd128. ASC_FEATURE_RELAXED_SIMD is a
// compile-time constant, so each build holds only its own variant of the Q4_0 dot product.
import { accumulateBlock4, blockDotQ4_0, rowQuadQ4_0, vecDotQ4_0Q8_0, vecDotQ4_0Q8_0Unpacked } from "./q4_0";
import { f16Lookup } from "./f16";
export { initF16Table } from "./f16";
import { colQuadQ8_0, rowQuadQ8_0, vecDotQ8_0Q8_0, Q8_0_BYTES } from "./q8_0";

export { quantizeRowQ8_0, vecDotQ8_0Q8_0, dequantizeRowQ8_0 } from "./q8_0";
export { vecDotQ4_0Q8_0, vecDotQ4_0Q8_0Unpacked } from "./q4_0";
export { rmsNorm, ropeNorm, ropeNeox, softmax, swiglu, add, scale, argmax, accumulateRowsF32, accumulateRowsF16, accumulateRowsQ8_0, scoresGroupF16, accumulateGroupF16, roundToF16 } from "./ops";
export { vecDotF16F16, vecDotF32F32, convertRowF16, copyRowF32, matvecF16, matvecF32, streamRead } from "./f32";

/** Which Q4_0 dot this build has: 1 relaxed, 0 plain simd128. */
export const RELAXED: i32 = ASC_FEATURE_RELAXED_SIMD ? 1 : 0;

/**
 * WebAssembly has no prefetch instruction, and the out-of-order window alone keeps too few cache misses in
 * flight to stream from DRAM (measured: ~40% of the streaming read rate). So before each group of rows, one
 * load per cache line of the rows PREFETCH_ROWS ahead: a burst of independent misses the memory system serves in
 * parallel, finished by the time the kernel reaches those rows. The loaded bytes feed a sink, so no engine
 * may drop the loads. 8 rows ahead: 8B Q4_0 decode on 2 threads ran 2.2-2.4 t/s against 2.0-2.1 with 4 (and
 * 2.2-2.3 with 12 or 16), in one run alternating the builds.
 */
const PREFETCH_ROWS: i32 = 8;
let prefetchSink: u32 = 0;

@inline
function touch(p: usize, bytes: usize): void {
  let acc: u32 = 0;
  for (let q: usize = 0; q < bytes; q += 64) acc ^= load<u8>(p + q);
  prefetchSink ^= acc;
}

/** out[r] = row r of W (Q4_0, rowBytes apart) · x (Q8_0 with its scales), for rows [r0, r1). */
export function matvecQ4_0(out: usize, w: usize, rowBytes: i32, x: usize, xs: usize, nb: i32, r0: i32, r1: i32): void {
  let r = r0;
  for (; r + 4 <= r1; r += 4) {
    const w0 = w + <usize>r * <usize>rowBytes;
    if (r + PREFETCH_ROWS + 4 <= r1) touch(w0 + <usize>(PREFETCH_ROWS * rowBytes), <usize>(4 * rowBytes));
    rowQuadQ4_0(out + <usize>(r * 4), w0, <usize>rowBytes, x, xs, nb);
  }
  for (; r < r1; r++) store<f32>(out + <usize>(r * 4), vecDotQ4_0Q8_0(w + <usize>r * <usize>rowBytes, x, xs, nb));
}

/** matvecQ4_0 for a matrix ggml-cpu does not repack (rows not a multiple of 8): see vecDotQ4_0Q8_0Unpacked. */
export function matvecQ4_0Unpacked(out: usize, w: usize, rowBytes: i32, x: usize, xs: usize, nb: i32, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) store<f32>(out + <usize>(r * 4), vecDotQ4_0Q8_0Unpacked(w + <usize>r * <usize>rowBytes, x, xs, nb));
}

/** matmulQ4_0's signature for such a matrix: each activation row through matvecQ4_0Unpacked's arithmetic. */
export function matmulQ4_0Unpacked(out: usize, outStride: i32, w: usize, rowBytes: i32, x: usize, xStride: i32, xs: usize, nb: i32, r0: i32, r1: i32, n: i32, _scratch: usize): void {
  for (let c = 0; c < n; c++) {
    matvecQ4_0Unpacked(out + <usize>(c * outStride * 4), w, rowBytes, x + <usize>(c * xStride), xs + <usize>(c * nb * 8), nb, r0, r1);
  }
}

/** out[r] = row r of W (Q8_0) · x (Q8_0), for rows [r0, r1). */
export function matvecQ8_0(out: usize, w: usize, rowBytes: i32, x: usize, xs: usize, nb: i32, r0: i32, r1: i32): void {
  let r = r0;
  for (; r + 4 <= r1; r += 4) {
    const row = w + <usize>r * <usize>rowBytes;
    if (r + PREFETCH_ROWS + 4 <= r1) touch(row + <usize>(PREFETCH_ROWS * rowBytes), <usize>(4 * rowBytes));
    rowQuadQ8_0(out + <usize>(r * 4), row, <usize>rowBytes, x, xs, nb);
  }
  for (; r < r1; r++) store<f32>(out + <usize>(r * 4), vecDotQ8_0Q8_0(w + <usize>r * <usize>rowBytes, x, xs, nb));
}

/**
 * out[c·outStride + r] = row r of W (Q4_0) · activation row c (Q8_0, xStride bytes apart, block sums nb per row),
 * for rows [r0, r1) and activation rows [0, n). Each weight block is loaded once for four activation rows;
 * per (r, c) the arithmetic is exactly matvecQ4_0's, so prefill and decode agree bit for bit. `scratch`
 * (n/4 · nb · 32 bytes, this thread's) takes the activation scales interleaved four rows at a time.
 */
export function matmulQ4_0(out: usize, outStride: i32, w: usize, rowBytes: i32, x: usize, xStride: i32, xs: usize, nb: i32, r0: i32, r1: i32, n: i32, scratch: usize): void {
  interleaveScales4(scratch, xs, nb, n);
  const full = n & ~3;
  let r = r0;
  // Four weight rows per pass. Full groups of four activation rows take two-row tiles (each activation block
  // serves two rows, each weight block four activation rows); the rest (a batch of 1-3 decoding sequences,
  // or n % 4) take matvec's four-row pass, so a small batch runs no slower per row than decode.
  for (; r + 4 <= r1; r += 4) {
    const wr = w + <usize>r * <usize>rowBytes;
    if (r + PREFETCH_ROWS + 4 <= r1) touch(wr + <usize>(PREFETCH_ROWS * rowBytes), <usize>(4 * rowBytes));
    for (let c = 0; c < full; c += 4) {
      const s4 = scratch + <usize>(c / 4 * nb * 32);
      tileQ4_0(out, outStride, r, c, wr, <usize>rowBytes, x, xStride, s4, nb, true);
      tileQ4_0(out, outStride, r + 2, c, wr + <usize>(2 * rowBytes), <usize>rowBytes, x, xStride, s4, nb, true);
    }
    for (let c = full; c < n; c++) rowQuadQ4_0(out + <usize>((c * outStride + r) * 4), wr, <usize>rowBytes, x + <usize>(c * xStride), xs + <usize>(c * nb * 8), nb);
  }
  for (; r < r1; r++) {
    const wr = w + <usize>r * <usize>rowBytes;
    let c = 0;
    for (; c < full; c += 4) tileQ4_0(out, outStride, r, c, wr, <usize>rowBytes, x, xStride, scratch + <usize>(c / 4 * nb * 32), nb, false);
    for (; c < n; c++) store<f32>(out + <usize>((c * outStride + r) * 4), vecDotQ4_0Q8_0(wr, x + <usize>(c * xStride), xs + <usize>(c * nb * 8), nb));
  }
}

/**
 * For each full group of four activation rows, per block: their d as an f32x4, then their "-8" terms (-8·Σq)
 * as an i32x4 (32 bytes), so a tile loads both in two loads instead of gathering eight values.
 */
function interleaveScales4(dst: usize, xs: usize, nb: i32, n: i32): void {
  for (let g = 0; g + 4 <= n; g += 4) {
    for (let b = 0; b < nb; b++) {
      const o = dst + <usize>(((g / 4) * nb + b) * 32);
      for (let i = 0; i < 4; i++) {
        const pair = xs + <usize>(((g + i) * nb + b) * 8);
        store<f32>(o + <usize>(i * 4), load<f32>(pair));
        store<i32>(o + <usize>(i * 4), -8 * load<i32>(pair, 4), 16);
      }
    }
  }
}

/**
 * Weight row r (and r + 1 when `two`) against activation rows c..c+3, whose interleaved scales are at s4.
 * Lanes of each accumulator are the four activation rows: each one llama.cpp's float32 chain, block after block.
 */
@inline
function tileQ4_0(out: usize, outStride: i32, r: i32, c: i32, wr: usize, rowBytes: usize, x: usize, xStride: i32, s4: usize, nb: i32, two: bool): void {
  const mask = i8x16.splat(0x0f);
  const zero = i32x4.splat(0);
  const x0 = x + <usize>(c * xStride), x1 = x0 + <usize>xStride, x2 = x1 + <usize>xStride, x3 = x2 + <usize>xStride;
  let acc = f32x4.splat(0);
  let acc2 = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    const wb = wr + <usize>(b * 18);
    const o = <usize>(b * 34);
    const scales = s4 + <usize>(b * 32);
    const dx = v128.load(scales);
    const offsets = v128.load(scales, 16);
    const q = v128.load(wb, 2);
    const lo = v128.and(q, mask);
    const hi = v128.and(i16x8.shr_u(q, 4), mask);
    acc = accumulateBlock4(
      acc,
      blockDotQ4_0(zero, lo, hi, x0 + o), blockDotQ4_0(zero, lo, hi, x1 + o),
      blockDotQ4_0(zero, lo, hi, x2 + o), blockDotQ4_0(zero, lo, hi, x3 + o),
      offsets, f32x4.mul(f32x4.splat(f16Lookup(load<u16>(wb))), dx),
    );
    if (two) {
      const q2 = v128.load(wb + rowBytes, 2);
      const lo2 = v128.and(q2, mask);
      const hi2 = v128.and(i16x8.shr_u(q2, 4), mask);
      acc2 = accumulateBlock4(
        acc2,
        blockDotQ4_0(zero, lo2, hi2, x0 + o), blockDotQ4_0(zero, lo2, hi2, x1 + o),
        blockDotQ4_0(zero, lo2, hi2, x2 + o), blockDotQ4_0(zero, lo2, hi2, x3 + o),
        offsets, f32x4.mul(f32x4.splat(f16Lookup(load<u16>(wb + rowBytes))), dx),
      );
    }
  }
  store<f32>(out + <usize>((c * outStride + r) * 4), f32x4.extract_lane(acc, 0));
  store<f32>(out + <usize>(((c + 1) * outStride + r) * 4), f32x4.extract_lane(acc, 1));
  store<f32>(out + <usize>(((c + 2) * outStride + r) * 4), f32x4.extract_lane(acc, 2));
  store<f32>(out + <usize>(((c + 3) * outStride + r) * 4), f32x4.extract_lane(acc, 3));
  if (two) {
    store<f32>(out + <usize>((c * outStride + r + 1) * 4), f32x4.extract_lane(acc2, 0));
    store<f32>(out + <usize>(((c + 1) * outStride + r + 1) * 4), f32x4.extract_lane(acc2, 1));
    store<f32>(out + <usize>(((c + 2) * outStride + r + 1) * 4), f32x4.extract_lane(acc2, 2));
    store<f32>(out + <usize>(((c + 3) * outStride + r + 1) * 4), f32x4.extract_lane(acc2, 3));
  }
}

/** The same for Q8_0 weights: each weight block widened once for four activation rows. */
export function matmulQ8_0(out: usize, outStride: i32, w: usize, rowBytes: i32, x: usize, xStride: i32, xs: usize, nb: i32, r0: i32, r1: i32, n: i32, _scratch: usize): void {
  const full = n & ~3;
  let r = r0;
  // As matmulQ4_0: leftover activation rows (n % 4) take matvec's four-row pass, four weight rows at a time.
  for (; r + 4 <= r1; r += 4) {
    const wr = w + <usize>r * <usize>rowBytes;
    if (r + PREFETCH_ROWS + 4 <= r1) touch(wr + <usize>(PREFETCH_ROWS * rowBytes), <usize>(4 * rowBytes));
    for (let i = 0; i < 4; i++) colQuadsQ8_0(out, outStride, r + i, wr + <usize>(i * rowBytes), x, xStride, xs, nb, full);
    for (let c = full; c < n; c++) rowQuadQ8_0(out + <usize>((c * outStride + r) * 4), wr, <usize>rowBytes, x + <usize>(c * xStride), xs + <usize>(c * nb * 8), nb);
  }
  for (; r < r1; r++) {
    const row = w + <usize>r * <usize>rowBytes;
    colQuadsQ8_0(out, outStride, r, row, x, xStride, xs, nb, full);
    for (let c = full; c < n; c++) {
      store<f32>(out + <usize>((c * outStride + r) * 4), vecDotQ8_0Q8_0(row, x + <usize>(c * xStride), xs + <usize>(c * nb * 8), nb));
    }
  }
}

/** Weight row r against activation rows [0, full), four at a time (each weight block widened once for four). */
@inline
function colQuadsQ8_0(out: usize, outStride: i32, r: i32, row: usize, x: usize, xStride: i32, xs: usize, nb: i32, full: i32): void {
  for (let c = 0; c < full; c += 4) {
    const acc = colQuadQ8_0(row, x + <usize>(c * xStride), <usize>xStride, xs + <usize>(c * nb * 8), <usize>(nb * 8), nb);
    store<f32>(out + <usize>((c * outStride + r) * 4), f32x4.extract_lane(acc, 0));
    store<f32>(out + <usize>(((c + 1) * outStride + r) * 4), f32x4.extract_lane(acc, 1));
    store<f32>(out + <usize>(((c + 2) * outStride + r) * 4), f32x4.extract_lane(acc, 2));
    store<f32>(out + <usize>(((c + 3) * outStride + r) * 4), f32x4.extract_lane(acc, 3));
  }
}

// Keep the layout constant visible to the JS side's checks.
export const Q8_0_BLOCK_BYTES: i32 = Q8_0_BYTES;
