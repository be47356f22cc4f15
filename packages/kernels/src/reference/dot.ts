// Plain references for the WebAssembly kernels: the test oracles.
import { f16ToF32, f32ToF16 } from "../f16.js";
import { halfAt, Q4_0_BYTES, Q8_0_BYTES, QK8_0 } from "./quantize.js";

const fround = Math.fround;

/**
 * Activations to Q8_0 as ggml-cpu does on x86 (quantize_row_q8_0, AVX2 path): id = 127/amax and round half to
 * even. It differs from quantize_row_q8_0_ref (id = 1/d, round half away) in rare last-step roundings; this is
 * the one that produced llama.cpp's reference logits. Also writes the kernels' per-block pair beside the
 * blocks: d as float32 at scales[2b] and Σq as int32 in the next four bytes.
 */
export function quantizeActivationsQ8_0Ref(dst: Uint8Array, scales: Float32Array, src: ArrayLike<number>, n: number): void {
  for (let b = 0; b < n / QK8_0; b++) {
    const { d, sum } = quantizeBlockX86(dst, b * Q8_0_BYTES + 2, src, b * QK8_0);
    const h = f32ToF16(d);
    dst[b * Q8_0_BYTES] = h & 0xff;
    dst[b * Q8_0_BYTES + 1] = h >> 8;
    scales[2 * b] = f16ToF32(h);
    new Int32Array(scales.buffer, scales.byteOffset, scales.length)[2 * b + 1] = sum;
  }
}

/**
 * Activations to Q8_1 as ggml-cpu does on x86 (quantize_row_q8_1, AVX2 path): as Q8_0's, plus s = f16(d·Σq) with
 * d the unrounded f32 amax/127. Blocks of 36 bytes (d, s, 32 int8); scales gets d and s (their half values) as
 * f32 pairs, what the kernels read.
 */
export function quantizeActivationsQ8_1Ref(dst: Uint8Array, scales: Float32Array, src: ArrayLike<number>, n: number): void {
  for (let b = 0; b < n / 32; b++) {
    const { d, sum } = quantizeBlockX86(dst, b * 36 + 4, src, b * 32);
    const hd = f32ToF16(d), hs = f32ToF16(fround(d * sum));
    dst[b * 36] = hd & 0xff;
    dst[b * 36 + 1] = hd >> 8;
    dst[b * 36 + 2] = hs & 0xff;
    dst[b * 36 + 3] = hs >> 8;
    scales[2 * b] = f16ToF32(hd);
    scales[2 * b + 1] = f16ToF32(hs);
  }
}

/** 32 floats at src[x] to int8 at dst[q] as ggml-cpu's x86 Q8_0/Q8_1 quantizers do; their f32 d = amax/127 and Σq. */
function quantizeBlockX86(dst: Uint8Array, q: number, src: ArrayLike<number>, x: number): { d: number; sum: number } {
  let amax = 0;
  for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(fround(src[x + j])));
  const id = amax !== 0 ? fround(127 / amax) : 0;
  let sum = 0;
  for (let j = 0; j < 32; j++) {
    const v = roundHalfEven(fround(fround(src[x + j]) * id));
    dst[q + j] = v & 0xff;
    sum += v;
  }
  return { d: fround(amax / 127), sum };
}

function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** A byte as int8. */
export const i8 = (b: number) => (b << 24) >> 24;

/** One block's exact integer Σ (nibble − 8)·q: the Q4_0 block at w[wo], the Q8_0 block at x[xo]. */
export function blockSumQ4_0Ref(w: Uint8Array, wo: number, x: Uint8Array, xo: number): number {
  let s = 0;
  for (let j = 0; j < 16; j++) s += ((w[wo + 2 + j] & 15) - 8) * i8(x[xo + 2 + j]) + ((w[wo + 2 + j] >> 4) - 8) * i8(x[xo + 18 + j]);
  return s;
}

/** Σ_blocks d_w·d_x·Σ (nibble − 8)·x, in float64 (the kernels must agree to float32 accumulation error). */
export function vecDotQ4_0Q8_0Ref(w: Uint8Array, wOff: number, x: Uint8Array, xOff: number, nb: number): number {
  let sum = 0;
  for (let b = 0; b < nb; b++) {
    const wo = wOff + b * Q4_0_BYTES;
    const xo = xOff + b * Q8_0_BYTES;
    sum += blockSumQ4_0Ref(w, wo, x, xo) * halfAt(w, wo) * halfAt(x, xo);
  }
  return sum;
}

export function vecDotQ8_0Q8_0Ref(w: Uint8Array, wOff: number, x: Uint8Array, xOff: number, nb: number): number {
  let sum = 0;
  for (let b = 0; b < nb; b++) {
    const wo = wOff + b * Q8_0_BYTES;
    const xo = xOff + b * Q8_0_BYTES;
    let s = 0;
    for (let j = 0; j < 32; j++) s += i8(w[wo + 2 + j]) * i8(x[xo + 2 + j]);
    sum += s * halfAt(w, wo) * halfAt(x, xo);
  }
  return sum;
}

/** Σ_blocks d_w·d_x·Σ |w·x|: the scale of a dot product's rounding error. */
export function vecDotMagnitude(w: Uint8Array, wOff: number, x: Uint8Array, xOff: number, nb: number, wBlockBytes: number): number {
  let sum = 0;
  for (let b = 0; b < nb; b++) {
    const wo = wOff + b * wBlockBytes;
    const xo = xOff + b * Q8_0_BYTES;
    sum += Math.abs(halfAt(w, wo) * halfAt(x, xo)) * 32 * 127 * 127;
  }
  return sum;
}
