// Scalar references for the kernels that reproduce llama.cpp's x86 (AVX-512 build, GCC) summation order, the
// oracles of test/ggmlOrder.test.ts. Each follows the ggml source (and, where GCC vectorised a loop, the
// disassembly of libggml-cpu) one rounding at a time; the kernels must match them bit for bit.
import { expGgmlLane } from "../expF32.js";
import { fmaF32 as fmaRef } from "../fmaF32.js";
import { blockSumQ4_0Ref, i8 } from "./dot.js";
import { fifthBitsAt, fiveBitValue, halfAt, Q4_0_BYTES, Q4_1_BYTES, Q5_0_BYTES, Q5_1_BYTES, Q8_0_BYTES } from "./quantize.js";

const fround = Math.fround;

/** C's fmaf (the references' name for fmaF32). */
export { fmaRef };

/** _mm512_reduce_add_ps as GCC expands it: (i + 8), then (i + 4), then (0 + 2) + (1 + 3). */
export function reduceAdd16Ref(l: ArrayLike<number>): number {
  const t = Array.from({ length: 8 }, (_, i) => fround(l[i] + l[i + 8]));
  const u = Array.from({ length: 4 }, (_, i) => fround(t[i] + t[i + 4]));
  return fround(fround(u[0] + u[2]) + fround(u[1] + u[3]));
}

/** The 64-lane part of ggml_vec_dot_f32 (AVX-512) over the first `padded` terms a[i]·b[i] (zero past n). */
function dotLanes(a: (i: number) => number, b: (i: number) => number, n: number, padded: number): number {
  const acc = Array.from({ length: 4 }, () => new Array<number>(16).fill(0));
  for (let s = 0; s < padded; s += 64) {
    for (let k = 0; k < 4; k++) {
      for (let l = 0; l < 16; l++) {
        const i = s + 16 * k + l;
        acc[k][l] = fmaRef(i < n ? a(i) : 0, i < n ? b(i) : 0, acc[k][l]);
      }
    }
  }
  return reduceAdd16Ref(acc[0].map((v, l) => fround(fround(v + acc[2][l]) + fround(acc[1][l] + acc[3][l]))));
}

/** ggml_vec_dot_f32: 64 lanes over n & ~63, then a tail GCC splits into rounded products and, for n % 8, FMAs. */
export function vecDotF32Ref(a: ArrayLike<number>, b: ArrayLike<number>, n: number): number {
  const np = n & ~63;
  let sum = np > 0 ? dotLanes((i) => a[i], (i) => b[i], np, np) : 0;
  const fused = n - ((n - np) & 7);
  for (let i = np; i < n; i++) sum = i < fused ? fround(sum + fround(a[i] * b[i])) : fmaRef(a[i], b[i], sum);
  return sum;
}

/** ggml_vec_dot_f16 (AVX-512 without FP16) over floats that are halves: vec_dot_f32's lanes, then a tail in double. */
export function vecDotF16Ref(a: ArrayLike<number>, b: ArrayLike<number>, n: number): number {
  const np = n & ~63;
  let sum = np > 0 ? dotLanes((i) => a[i], (i) => b[i], np, np) : 0;
  for (let i = np; i < n; i++) sum += fround(a[i] * b[i]);
  return fround(sum);
}

/**
 * llamafile's tinyBLAS dot (sgemm.cpp, AVX-512): lane l of 16 sums elements l, l + 16, … with FMAs, then
 * _mm512_reduce_add_ps; elements past n count as zero.
 */
export function dotSgemmRef(a: (i: number) => number, b: (i: number) => number, n: number): number {
  const lanes = new Float32Array(16);
  for (let i = 0; i < n; i++) lanes[i % 16] = fmaRef(a(i), b(i), lanes[i % 16]);
  return reduceAdd16Ref(lanes);
}

/** The same sum for a query among several of its batch: tinyBLAS over the KV length (accumulateRowsF32Tiled). */
export function accumulateRowsF32TiledRef(p: ArrayLike<number>, values: readonly ArrayLike<number>[], j: number): number {
  return dotSgemmRef((t) => p[t], (t) => values[t][j], values.length);
}

/** Attention's Σ_t p[t]·V[t][j] for a lone query: ggml_vec_dot_f32 over the KV length, zero-padded to 64. */
export function accumulateRowsF32Ref(p: ArrayLike<number>, values: readonly ArrayLike<number>[], j: number): number {
  const n = values.length;
  return dotLanes((t) => p[t], (t) => values[t][j], n, Math.ceil(n / 64) * 64);
}

/** ggml_v_expf (AVX-512), one lane. */
export const expGgmlRef = expGgmlLane;

/** ggml_soft_max_f32 + ggml_vec_soft_max_f32 (AVX-512) over x · scale, the KV length padded to 16 with -∞. */
export function softmaxGgmlRef(x: ArrayLike<number>, scale: number, slope = 0): Float32Array {
  // ALiBi: ggml adds slope · mask (mask = -distance to the query at n-1) to the scaled score, fused.
  const w = Float32Array.from(x, (v, i) => (slope ? fround(slope * (i - (x.length - 1)) + fround(v * scale)) : fround(v * scale)));
  const max = w.reduce((m, v) => Math.max(m, v), -Infinity);
  let sum = 0;
  const e = new Float32Array(Math.ceil(w.length / 16) * 16);
  for (let i = 0; i < e.length; i++) e[i] = expGgmlRef(fround((i < w.length ? w[i] : -Infinity) - max));
  for (let i = 0; i < e.length; i += 16) sum += reduceAdd16Ref(e.subarray(i, i + 16));
  const inv = fround(1 / sum);
  return Float32Array.from(w, (_, i) => fround(e[i] * inv));
}

/** ggml_vec_swiglu_f32 (AVX-512) on whole groups of 16: x / (1 + e^-x) · g. (The tail uses libm's expf.) */
export function swigluGgmlRef(gate: ArrayLike<number>, up: ArrayLike<number>): Float32Array {
  return Float32Array.from({ length: gate.length & ~15 }, (_, i) =>
    fround(fround(gate[i] / fround(1 + expGgmlRef(fround(0 - gate[i])))) * up[i]));
}

/**
 * The eight float lanes of ggml-cpu's x86 quantized dots: lane i of 8 holds Σ term(b, e) over elements
 * e = 4i..4i+3 of block b; each lane accumulates fma(scale(b), lane, acc); hsum_float_8 adds (i + 4), then
 * (0 + 2) + (1 + 3).
 */
function eightLanesRef(nb: number, scale: (b: number) => number, term: (b: number, e: number) => number): number {
  const acc = new Array<number>(8).fill(0);
  for (let b = 0; b < nb; b++) {
    for (let lane = 0; lane < 8; lane++) {
      let s = 0;
      for (let e = 4 * lane; e < 4 * lane + 4; e++) s += term(b, e);
      acc[lane] = fmaRef(scale(b), s, acc[lane]);
    }
  }
  const r = Array.from({ length: 4 }, (_, i) => fround(acc[i + 4] + acc[i]));
  return fround(fround(r[0] + r[2]) + fround(r[1] + r[3]));
}

/**
 * A Q4_0 row as ggml-cpu's repacked x86 gemv (ggml_gemv_q4_0_8x8_q8_0, for matrices whose rows are a multiple
 * of 8) adds it: per block the exact integer Σ (nibble − 8)·q, then acc = fma(that, f32(d_w · d_x), acc).
 */
export function vecDotQ4_0Q8_0RepackedRef(w: Uint8Array, wOff: number, x: Uint8Array, xOff: number, nb: number): number {
  let acc = 0;
  for (let b = 0; b < nb; b++) {
    const wo = wOff + b * Q4_0_BYTES;
    const xo = xOff + b * Q8_0_BYTES;
    acc = fmaRef(blockSumQ4_0Ref(w, wo, x, xo), fround(halfAt(w, wo) * halfAt(x, xo)), acc);
  }
  return acc;
}

/** ggml_vec_dot_q4_0_q8_0 (x86, AVX2 and up), for matrices ggml does not repack. */
export function vecDotQ4_0Q8_0UnpackedRef(w: Uint8Array, wOff: number, x: Uint8Array, xOff: number, nb: number): number {
  const wo = (b: number) => wOff + b * Q4_0_BYTES;
  const xo = (b: number) => xOff + b * Q8_0_BYTES;
  return eightLanesRef(nb, (b) => fround(halfAt(w, wo(b)) * halfAt(x, xo(b))), (b, e) => {
    const nibble = e < 16 ? w[wo(b) + 2 + e] & 15 : w[wo(b) + 2 + e - 16] >> 4;
    return (nibble - 8) * i8(x[xo(b) + 2 + e]);
  });
}

/** ggml_vec_dot_q8_0_q8_0 (x86): the same eight lanes over 32 int8 weights per block. */
export function vecDotQ8_0Q8_0LanesRef(w: Uint8Array, wOff: number, x: Uint8Array, xOff: number, nb: number): number {
  const wo = (b: number) => wOff + b * Q8_0_BYTES;
  const xo = (b: number) => xOff + b * Q8_0_BYTES;
  return eightLanesRef(nb, (b) => fround(halfAt(w, wo(b)) * halfAt(x, xo(b))), (b, e) => i8(w[wo(b) + 2 + e]) * i8(x[xo(b) + 2 + e]));
}

/** ggml_vec_dot_q5_0_q8_0 (x86; also tinyBLAS_Q0_AVX's batch order): the eight lanes over (5-bit value − 16)·q. */
export function vecDotQ5_0Q8_0Ref(w: Uint8Array, wOff: number, x: Uint8Array, xOff: number, nb: number): number {
  const wo = (b: number) => wOff + b * Q5_0_BYTES;
  const xo = (b: number) => xOff + b * Q8_0_BYTES;
  return eightLanesRef(nb, (b) => fround(halfAt(w, wo(b)) * halfAt(x, xo(b))), (b, e) =>
    (fiveBitValue(w, wo(b) + 6, fifthBitsAt(w, wo(b) + 2), e) - 16) * i8(x[xo(b) + 2 + e]));
}

/**
 * ggml_vec_dot_q4_1_q8_1 / q5_1_q8_1 (x86): the eight lanes over q·x with scale d_w·d_x, then + Σ_b m·s taken
 * apart as fma(m, s, summs) (GCC contracts the C's `summs += m * s`).
 */
function vecDotWithMinRef(bits: 4 | 5, w: Uint8Array, wOff: number, x: Uint8Array, xOff: number, nb: number): number {
  const bytes = bits === 4 ? Q4_1_BYTES : Q5_1_BYTES;
  const wo = (b: number) => wOff + b * bytes;
  const xo = (b: number) => xOff + b * 36;
  const lanes = eightLanesRef(nb, (b) => fround(halfAt(w, wo(b)) * halfAt(x, xo(b))), (b, e) =>
    fiveBitValue(w, wo(b) + (bits === 4 ? 4 : 8), bits === 4 ? 0 : fifthBitsAt(w, wo(b) + 4), e) * i8(x[xo(b) + 4 + e]));
  let summs = 0;
  for (let b = 0; b < nb; b++) summs = fmaRef(halfAt(w, wo(b) + 2), halfAt(x, xo(b) + 2), summs);
  return fround(lanes + summs);
}

export const vecDotQ4_1Q8_1Ref = (w: Uint8Array, wOff: number, x: Uint8Array, xOff: number, nb: number) => vecDotWithMinRef(4, w, wOff, x, xOff, nb);
export const vecDotQ5_1Q8_1Ref = (w: Uint8Array, wOff: number, x: Uint8Array, xOff: number, nb: number) => vecDotWithMinRef(5, w, wOff, x, xOff, nb);

/** RoPE's rotation of one pair as GCC compiles ggml's rotate_pairs: each output one FMA over the first product. */
export function rotatePairRef(x0: number, x1: number, c: number, s: number): [number, number] {
  return [fmaRef(x0, c, -fround(x1 * s)), fmaRef(x0, s, fround(x1 * c))];
}
