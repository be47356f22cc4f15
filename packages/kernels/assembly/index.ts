// One source, two builds: `asc --enable relaxed-simd` and plain simd128. ASC_FEATURE_RELAXED_SIMD is a
// compile-time constant, so each build holds only its own variant of the Q4_0 dot product.
import { vecDotQ4_0Q8_0Unpacked } from "./q4_0";
export { initF16Table } from "./f16";
import { colQuadQ8_0, rowQuadQ8_0, vecDotQ8_0Q8_0, Q8_0_BYTES } from "./q8_0";

export { quantizeRowQ8_0, vecDotQ8_0Q8_0, dequantizeRowQ8_0 } from "./q8_0";
export { vecDotQ4_0Q8_0Unpacked } from "./q4_0";
export { vecDotQ5_0Q8_0, matvecQ5_0, matmulQ5_0 } from "./q5_0";
export { quantizeRowQ8_1 } from "./q8_1";
export { vecDotQ4_1Q8_1, vecDotQ5_1Q8_1, matvecQ4_1, matvecQ5_1, matmulQ4_1, matmulQ5_1 } from "./q4_1";
export { quantizeRowQ8_K, vecDotQ2_KQ8_K, vecDotQ2_Kx8Q8_K, vecDotQ4_Kx8Q8_K, matvecQ2_K, matmulQ2_K, matmulQ4_K, vecDotQ3_KQ8_K, vecDotQ4_KQ8_K, vecDotQ5_KQ8_K, vecDotQ6_KQ8_K, matvecQ4_K } from "./kquants";
export { matvecQ2_Kx8, matvecQ3_K, matvecQ5_K, matvecQ6_K, repackQ6_K, matmulQ2_Kx8, matmulQ3_K, matmulQ5_K, matmulQ6_K } from "./kquantsSimd";
export { repackQ4_Kx4, matvecQ4_Kx4, matmulQ4_Kx4 } from "./q4_Kx4";
export { repackQ4_0x8, matvecQ4_0x8, matmulQ4_0x8 } from "./q4_0x8";
export { rmsNorm, ropeNorm, ropeNeox, softmax, swiglu, add, scale, argmax, accumulateRowsF32, accumulateRowsF32Tiled, accumulateRowsF16, accumulateRowsQ8_0, scoresGroupF16, accumulateGroupF16, roundToF16 } from "./ops";
export { vecDotF16F16, vecDotF32F32, convertRowF16, copyRowF32, matvecF16, matvecF32, matmulF16, matmulF32, streamRead } from "./f32";

/** Which Q4_0 dot this build has: 1 relaxed, 0 plain simd128. */
export const RELAXED: i32 = ASC_FEATURE_RELAXED_SIMD ? 1 : 0;

/**
 * WebAssembly has no prefetch instruction, and the out-of-order window alone keeps too few cache misses in
 * flight to stream from DRAM (measured: ~40% of the streaming read rate). So before each group of rows, one
 * load per cache line of the rows PREFETCH_ROWS ahead: a burst of independent misses the memory system serves in
 * parallel, finished by the time the kernel reaches those rows. The loaded bytes feed a sink, so no engine
 * may drop the loads. 8 rows ahead: 8B Q4_0 decode on 2 threads (then row-major) ran 2.2-2.4 t/s against 2.0-2.1
 * with 4 (and 2.2-2.3 with 12 or 16), in one run alternating the builds. Q8_0 only now: touches ahead gained
 * nothing for the grouped Q4_0 layout (q4_0x8.ts), 9.8-13.1 GB/s with against 12.5-13.6 without.
 */
const PREFETCH_ROWS: i32 = 8;
let prefetchSink: u32 = 0;

@inline
function touch(p: usize, bytes: usize): void {
  let acc: u32 = 0;
  for (let q: usize = 0; q < bytes; q += 64) acc ^= load<u8>(p + q);
  prefetchSink ^= acc;
}

/**
 * out[r] = row r of W (plain Q4_0, rowBytes apart) · x (Q8_0 with its scales), for rows [r0, r1), for a
 * matrix ggml-cpu does not repack (rows not a multiple of 8): see vecDotQ4_0Q8_0Unpacked.
 */
export function matvecQ4_0Unpacked(out: usize, w: usize, rowBytes: i32, x: usize, xs: usize, nb: i32, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) store<f32>(out + <usize>(r * 4), vecDotQ4_0Q8_0Unpacked(w + <usize>r * <usize>rowBytes, x, xs, nb));
}

/** matmulQ4_0x8's signature for such a matrix: each activation row through matvecQ4_0Unpacked's arithmetic. */
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
 * out[c·outStride + r] = row r of W (Q8_0) · activation row c (Q8_0, xStride bytes apart, block scales nb per
 * row), for rows [r0, r1) and activation rows [0, n): each weight block widened once for four activation rows;
 * per (r, c) the arithmetic is exactly matvecQ8_0's, so prefill and decode agree bit for bit.
 */
export function matmulQ8_0(out: usize, outStride: i32, w: usize, rowBytes: i32, x: usize, xStride: i32, xs: usize, nb: i32, r0: i32, r1: i32, n: i32, _scratch: usize): void {
  const full = n & ~3;
  let r = r0;
  // Leftover activation rows (a batch of 1-3 decoding sequences, or n % 4) take matvec's four-row pass, four
  // weight rows at a time, so a small batch runs no slower per row than decode.
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
