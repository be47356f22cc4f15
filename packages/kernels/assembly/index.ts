// One source, two builds: `asc --enable relaxed-simd` and plain simd128. ASC_FEATURE_RELAXED_SIMD is a
// compile-time constant, so each build holds only its own variant of the Q4_0 dot product.
import { vecDotQ4_0Q8_0Simd } from "./q4_0";
import { vecDotQ4_0Q8_0Relaxed } from "./relaxed";
import { vecDotQ8_0Q8_0, Q8_0_BYTES } from "./q8_0";

export { quantizeRowQ8_0, vecDotQ8_0Q8_0, dequantizeRowQ8_0 } from "./q8_0";
export { vecDotQ4_0Q8_0Simd } from "./q4_0";
export { vecDotF16F16, vecDotF32F32, convertRowF16, copyRowF32, matvecF16, matvecF32, streamRead } from "./f32";

/** Which Q4_0 dot this build has: 1 relaxed, 0 plain simd128. */
export const RELAXED: i32 = ASC_FEATURE_RELAXED_SIMD ? 1 : 0;

@inline
function dotQ4_0(w: usize, x: usize, xsum: usize, nb: i32): f32 {
  if (ASC_FEATURE_RELAXED_SIMD) return vecDotQ4_0Q8_0Relaxed(w, x, xsum, nb);
  return vecDotQ4_0Q8_0Simd(w, x, xsum, nb);
}

export function vecDotQ4_0Q8_0(w: usize, x: usize, xsum: usize, nb: i32): f32 {
  return dotQ4_0(w, x, xsum, nb);
}

/** out[r] = row r of W (Q4_0, rowBytes apart) · x (Q8_0 with block sums), for rows [r0, r1). */
export function matvecQ4_0(out: usize, w: usize, rowBytes: i32, x: usize, xsum: usize, nb: i32, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) store<f32>(out + <usize>(r * 4), dotQ4_0(w + <usize>r * <usize>rowBytes, x, xsum, nb));
}

/** out[r] = row r of W (Q8_0) · x (Q8_0), for rows [r0, r1). */
export function matvecQ8_0(out: usize, w: usize, rowBytes: i32, x: usize, xsum: usize, nb: i32, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) store<f32>(out + <usize>(r * 4), vecDotQ8_0Q8_0(w + <usize>r * <usize>rowBytes, x, nb));
}

// Keep the layout constant visible to the JS side's checks.
export const Q8_0_BLOCK_BYTES: i32 = Q8_0_BYTES;
