// The weight types with a minimum, against Q8_1 activations (q8_1.ts): Q4_1 (f16 d, f16 m, 16 bytes of
// nibbles: value = nibble·d + m; 20 bytes) and Q5_1 (d, m, 4 bytes of fifth bits, 16 of nibbles; 24 bytes).
// ggml-cpu neither repacks them nor gives them to tinyBLAS on x86, so every product is vec_dot_q4_1_q8_1's /
// vec_dot_q5_1_q8_1's: the eight float lanes of lanes.ts over Σ q·x (q unsigned), plus the minimum's term
// summed apart, in scalar floats, as fma(m, s, summs) (GCC contracts `summs += m * s` on an FMA machine).
import { f16Lookup } from "./f16";
import { fmaF32 } from "./fma";
import { fmaLanes, hsum8, quadDots } from "./lanes";
import { fifthBitsHigh, fifthBitsLow } from "./q5_0";
import { Q8_1_BYTES } from "./q8_1";

export const Q4_1_BYTES: i32 = 20;
export const Q5_1_BYTES: i32 = 24;

/** Row of Q4_1 weights · Q8_1 activations (d and s as f32 at xs). */
export function vecDotQ4_1Q8_1(w: usize, x: usize, xs: usize, nb: i32): f32 {
  return vecDotWithMin(w, x, xs, nb, false);
}

/** Row of Q5_1 weights · Q8_1 activations. */
export function vecDotQ5_1Q8_1(w: usize, x: usize, xs: usize, nb: i32): f32 {
  return vecDotWithMin(w, x, xs, nb, true);
}

/** Both: `fifth` is a constant at each call, so each export compiles to its own loop. */
@inline
function vecDotWithMin(w: usize, x: usize, xs: usize, nb: i32, fifth: bool): f32 {
  const mask = i8x16.splat(0x0f);
  const zero = i32x4.splat(0);
  const blockBytes = <usize>(fifth ? Q5_1_BYTES : Q4_1_BYTES);
  let lo = f32x4.splat(0);
  let hi = f32x4.splat(0);
  let summs: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const d = f16Lookup(load<u16>(w)) * load<f32>(xs);
    summs = fmaF32(f16Lookup(load<u16>(w, 2)), load<f32>(xs, 4), summs);
    let n0: v128, n1: v128;
    if (fifth) {
      const qh = v128.load32_splat(w, 4);
      const q = v128.load(w, 8);
      n0 = v128.or(v128.and(q, mask), fifthBitsLow(qh));
      n1 = v128.or(v128.and(i16x8.shr_u(q, 4), mask), fifthBitsHigh(qh));
    } else {
      const q = v128.load(w, 4);
      n0 = v128.and(q, mask);
      n1 = v128.and(i16x8.shr_u(q, 4), mask);
    }
    lo = fmaLanes(lo, d, quadDots(v128.load(x, 4), n0, zero));
    hi = fmaLanes(hi, d, quadDots(v128.load(x, 20), n1, zero));
    w += blockBytes;
    x += <usize>Q8_1_BYTES;
    xs += 8;
  }
  return hsum8(lo, hi) + summs;
}

export function matvecQ4_1(out: usize, w: usize, rowBytes: i32, x: usize, xs: usize, nb: i32, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) store<f32>(out + <usize>(r * 4), vecDotQ4_1Q8_1(w + <usize>r * <usize>rowBytes, x, xs, nb));
}

export function matvecQ5_1(out: usize, w: usize, rowBytes: i32, x: usize, xs: usize, nb: i32, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) store<f32>(out + <usize>(r * 4), vecDotQ5_1Q8_1(w + <usize>r * <usize>rowBytes, x, xs, nb));
}

/** Each activation row through the matvec: ggml's batch is vec_dot per (row, column) for these types. */
export function matmulQ4_1(out: usize, outStride: i32, w: usize, rowBytes: i32, x: usize, xStride: i32, xs: usize, nb: i32, r0: i32, r1: i32, n: i32, _scratch: usize): void {
  for (let c = 0; c < n; c++) matvecQ4_1(out + <usize>(c * outStride * 4), w, rowBytes, x + <usize>(c * xStride), xs + <usize>(c * nb * 8), nb, r0, r1);
}

export function matmulQ5_1(out: usize, outStride: i32, w: usize, rowBytes: i32, x: usize, xStride: i32, xs: usize, nb: i32, r0: i32, r1: i32, n: i32, _scratch: usize): void {
  for (let c = 0; c < n; c++) matvecQ5_1(out + <usize>(c * outStride * 4), w, rowBytes, x + <usize>(c * xStride), xs + <usize>(c * nb * 8), nb, r0, r1);
}
