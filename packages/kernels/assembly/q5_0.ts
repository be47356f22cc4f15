// Q5_0 × Q8_0: blocks of an f16 scale, 4 bytes of fifth bits (bit j for element j) and 16 bytes of nibbles
// (element j low in byte j, j+16 high), value = (nibble | fifth bit << 4) - 16 (22 bytes). ggml-cpu never
// repacks Q5_0 on x86, and tinyBLAS_Q0_AVX sums a batch as vec_dot_q5_0_q8_0 does: the eight float lanes of
// lanes.ts for every matrix.
import { f16Lookup } from "./f16";
import { fmaLanes, hsum8, laneSumsI8, prepareI8 } from "./lanes";
import { Q8_0_BYTES } from "./q8_0";

export const Q5_0_BYTES: i32 = 22;

/** Elements 0-15 (low) or 16-31 (high) of a 32-bit fifth-bit mask as bytes 0x10 where set, 0 elsewhere. */
@inline
export function fifthBitsLow(qh: v128): v128 {
  const spread = i8x16.shuffle(qh, qh, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
  return v128.and(i8x16.eq(v128.and(spread, bitOfLane()), bitOfLane()), i8x16.splat(0x10));
}

@inline
export function fifthBitsHigh(qh: v128): v128 {
  const spread = i8x16.shuffle(qh, qh, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
  return v128.and(i8x16.eq(v128.and(spread, bitOfLane()), bitOfLane()), i8x16.splat(0x10));
}

/** Byte j: bit j % 8. */
@inline
function bitOfLane(): v128 {
  return i64x2.splat(0x8040201008040201);
}

/** Row of Q5_0 weights · Q8_0 activations (d as f32 at xs, 8 bytes a block): vec_dot_q5_0_q8_0's order. */
export function vecDotQ5_0Q8_0(w: usize, x: usize, xs: usize, nb: i32): f32 {
  const mask = i8x16.splat(0x0f);
  const sixteen = i8x16.splat(16);
  let lo = f32x4.splat(0);
  let hi = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    const d = f16Lookup(load<u16>(w)) * load<f32>(xs);
    const qh = v128.load32_splat(w, 2);
    const q = v128.load(w, 6);
    const x0 = v128.load(x, 2);
    const x1 = v128.load(x, 18);
    const w0 = i8x16.sub(v128.or(v128.and(q, mask), fifthBitsLow(qh)), sixteen);
    const w1 = i8x16.sub(v128.or(v128.and(i16x8.shr_u(q, 4), mask), fifthBitsHigh(qh)), sixteen);
    lo = fmaLanes(lo, d, laneSumsI8(w0, x0, prepareI8(x0)));
    hi = fmaLanes(hi, d, laneSumsI8(w1, x1, prepareI8(x1)));
    w += <usize>Q5_0_BYTES;
    x += <usize>Q8_0_BYTES;
    xs += 8;
  }
  return hsum8(lo, hi);
}

/** out[r] = row r of W (Q5_0) · x (Q8_0), for rows [r0, r1). */
export function matvecQ5_0(out: usize, w: usize, rowBytes: i32, x: usize, xs: usize, nb: i32, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) store<f32>(out + <usize>(r * 4), vecDotQ5_0Q8_0(w + <usize>r * <usize>rowBytes, x, xs, nb));
}

/** Each activation row through matvecQ5_0 (tinyBLAS_Q0_AVX's sums are vec_dot's). */
export function matmulQ5_0(out: usize, outStride: i32, w: usize, rowBytes: i32, x: usize, xStride: i32, xs: usize, nb: i32, r0: i32, r1: i32, n: i32, _scratch: usize): void {
  for (let c = 0; c < n; c++) matvecQ5_0(out + <usize>(c * outStride * 4), w, rowBytes, x + <usize>(c * xStride), xs + <usize>(c * nb * 8), nb, r0, r1);
}
