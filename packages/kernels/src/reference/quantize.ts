// Plain reference quantizers, bit-exact with ggml's quantize_row_q8_0_ref / quantize_row_q4_0_ref
// (ggml/src/ggml-quants.c). Everything ggml does in float is done here in float32 via Math.fround,
// because one rounding flip moves a quantized value by a whole step.
import { f16ToF32, f32ToF16 } from "../f16.js";

export const QK8_0 = 32;
export const Q8_0_BYTES = 2 + QK8_0; // f16 scale, 32 × int8
export const QK4_0 = 32;
export const Q4_0_BYTES = 2 + QK4_0 / 2; // f16 scale, 16 bytes of nibbles

/** The little-endian f16 at bytes[at] (a block's scale) as a float. */
export const halfAt = (bytes: Uint8Array, at: number): number => f16ToF32(bytes[at] | (bytes[at + 1] << 8));

/** Stores the f16 bits h little-endian at bytes[at]. */
export function setHalfAt(bytes: Uint8Array, at: number, h: number): void {
  bytes[at] = h & 0xff;
  bytes[at + 1] = h >> 8;
}

const fround = Math.fround;
/** C roundf: half away from zero. */
const roundAway = (x: number) => (x < 0 ? -Math.round(-x) : Math.round(x));

/** Quantizes n floats (n a multiple of 32) from src[srcOff] into Q8_0 blocks at dst[dstOff]. */
export function quantizeRowQ8_0Ref(dst: Uint8Array, dstOff: number, src: ArrayLike<number>, srcOff: number, n: number): void {
  for (let b = 0; b < n / QK8_0; b++) {
    const x = srcOff + b * QK8_0;
    let amax = 0;
    for (let j = 0; j < QK8_0; j++) amax = Math.max(amax, Math.abs(fround(src[x + j])));
    const d = fround(amax / 127);
    const id = d ? fround(1 / d) : 0;
    const h = f32ToF16(d);
    const o = dstOff + b * Q8_0_BYTES;
    setHalfAt(dst, o, h);
    for (let j = 0; j < QK8_0; j++) dst[o + 2 + j] = roundAway(fround(src[x + j] * id)) & 0xff;
  }
}

export function dequantizeRowQ8_0(dst: Float32Array, dstOff: number, src: Uint8Array, srcOff: number, n: number): void {
  for (let b = 0; b < n / QK8_0; b++) {
    const o = srcOff + b * Q8_0_BYTES;
    const d = halfAt(src, o);
    for (let j = 0; j < QK8_0; j++) dst[dstOff + b * QK8_0 + j] = ((src[o + 2 + j] << 24) >> 24) * d;
  }
}

/** Quantizes n floats (n a multiple of 32) into Q4_0 blocks: element j in the low nibble of byte j, j+16 in the high. */
export function quantizeRowQ4_0Ref(dst: Uint8Array, dstOff: number, src: ArrayLike<number>, srcOff: number, n: number): void {
  for (let b = 0; b < n / QK4_0; b++) {
    const x = srcOff + b * QK4_0;
    // ggml keeps the signed value of largest magnitude and maps it to -8.
    const d = fround(signedAbsMax(src, x) / -8);
    const id = d ? fround(1 / d) : 0;
    const h = f32ToF16(d);
    const o = dstOff + b * Q4_0_BYTES;
    setHalfAt(dst, o, h);
    for (let j = 0; j < QK4_0 / 2; j++) {
      // (int8_t)(x + 8.5f) truncates toward zero; values are never below 0 here.
      const lo = Math.min(15, Math.trunc(fround(fround(src[x + j] * id) + 8.5)));
      const hi = Math.min(15, Math.trunc(fround(fround(src[x + QK4_0 / 2 + j] * id) + 8.5)));
      dst[o + 2 + j] = lo | (hi << 4);
    }
  }
}

/** The first of a block's 32 values with the largest magnitude, sign kept (Q4_0's and Q5_0's scale). */
function signedAbsMax(src: ArrayLike<number>, x: number): number {
  let amax = 0;
  let max = 0;
  for (let j = 0; j < 32; j++) {
    const v = fround(src[x + j]);
    if (amax < Math.abs(v)) {
      amax = Math.abs(v);
      max = v;
    }
  }
  return max;
}

export function dequantizeRowQ4_0(dst: Float32Array, dstOff: number, src: Uint8Array, srcOff: number, n: number): void {
  for (let b = 0; b < n / QK4_0; b++) {
    const o = srcOff + b * Q4_0_BYTES;
    const d = halfAt(src, o);
    const y = dstOff + b * QK4_0;
    for (let j = 0; j < QK4_0 / 2; j++) {
      const q = src[o + 2 + j];
      dst[y + j] = ((q & 0x0f) - 8) * d;
      dst[y + j + QK4_0 / 2] = ((q >> 4) - 8) * d;
    }
  }
}

// The older 32-weight types (ggml-quants.c: quantize_row_q4_1_ref, q5_0, q5_1 and their dequantize_row_*).
// Block layouts: Q4_1 d, m, 16 nibble bytes (20); Q5_0 d, 4 bytes of fifth bits, 16 nibble bytes (22); Q5_1 d,
// m, fifth bits, nibbles (24). Element j is the low nibble of byte j, element j + 16 the high; bit j of the
// fifth-bit word belongs to element j.
export const Q4_1_BYTES = 20;
export const Q5_0_BYTES = 22;
export const Q5_1_BYTES = 24;

/** The little-endian u32 at bytes[at]. */
const u32At = (bytes: Uint8Array, at: number) => (bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24)) >>> 0;
const setU32At = (bytes: Uint8Array, at: number, v: number) => {
  for (let i = 0; i < 4; i++) bytes[at + i] = (v >>> (8 * i)) & 0xff;
};

/** A block's minimum and maximum as ggml scans them (FLT_MAX / -FLT_MAX start). */
function minMax(src: ArrayLike<number>, x: number): [number, number] {
  let min = 3.4028234663852886e38;
  let max = -3.4028234663852886e38;
  for (let j = 0; j < 32; j++) {
    const v = fround(src[x + j]);
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return [min, max];
}

/**
 * Q4_1 and Q5_1 (bits 4 or 5): d = (max − min)/(2^bits − 1), q = (int)((x − min)·id + 0.5), Q4_1 clamped to 15
 * after an int8 cast, Q5_1 cast to uint8 only, as the C does.
 */
function quantizeRowWithMin(bits: 4 | 5, dst: Uint8Array, dstOff: number, src: ArrayLike<number>, srcOff: number, n: number): void {
  const bytes = bits === 4 ? Q4_1_BYTES : Q5_1_BYTES;
  for (let b = 0; b < n / 32; b++) {
    const x = srcOff + b * 32;
    const [min, max] = minMax(src, x);
    const d = fround(fround(max - min) / ((1 << bits) - 1));
    const id = d ? fround(1 / d) : 0;
    const o = dstOff + b * bytes;
    setHalfAt(dst, o, f32ToF16(d));
    setHalfAt(dst, o + 2, f32ToF16(min));
    let qh = 0;
    const qs = o + (bits === 4 ? 4 : 8);
    for (let j = 0; j < 16; j++) {
      const x0 = fround(fround(fround(src[x + j]) - min) * id);
      const x1 = fround(fround(fround(src[x + 16 + j]) - min) * id);
      let q0 = Math.trunc(fround(x0 + 0.5));
      let q1 = Math.trunc(fround(x1 + 0.5));
      if (bits === 4) {
        q0 = Math.min(15, (q0 << 24) >> 24) & 0xff;
        q1 = Math.min(15, (q1 << 24) >> 24) & 0xff;
      } else {
        q0 &= 0xff;
        q1 &= 0xff;
      }
      dst[qs + j] = (q0 & 0x0f) | ((q1 & 0x0f) << 4);
      qh |= ((q0 & 0x10) >> 4) << j;
      qh |= ((q1 & 0x10) >> 4) << (j + 16);
    }
    if (bits === 5) setU32At(dst, o + 4, qh >>> 0);
  }
}

export const quantizeRowQ4_1Ref = (dst: Uint8Array, dstOff: number, src: ArrayLike<number>, srcOff: number, n: number) => quantizeRowWithMin(4, dst, dstOff, src, srcOff, n);
export const quantizeRowQ5_1Ref = (dst: Uint8Array, dstOff: number, src: ArrayLike<number>, srcOff: number, n: number) => quantizeRowWithMin(5, dst, dstOff, src, srcOff, n);

/** Q5_0: as Q4_0 with 32 levels: d = max/−16 (max the signed value of largest magnitude), q = (int8)(x·id + 16.5), at most 31. */
export function quantizeRowQ5_0Ref(dst: Uint8Array, dstOff: number, src: ArrayLike<number>, srcOff: number, n: number): void {
  for (let b = 0; b < n / 32; b++) {
    const x = srcOff + b * 32;
    const d = fround(signedAbsMax(src, x) / -16);
    const id = d ? fround(1 / d) : 0;
    const o = dstOff + b * Q5_0_BYTES;
    setHalfAt(dst, o, f32ToF16(d));
    let qh = 0;
    for (let j = 0; j < 16; j++) {
      const q0 = Math.min(31, (Math.trunc(fround(fround(src[x + j] * id) + 16.5)) << 24) >> 24) & 0xff;
      const q1 = Math.min(31, (Math.trunc(fround(fround(src[x + 16 + j] * id) + 16.5)) << 24) >> 24) & 0xff;
      dst[o + 6 + j] = (q0 & 0x0f) | ((q1 & 0x0f) << 4);
      qh |= ((q0 & 0x10) >> 4) << j;
      qh |= ((q1 & 0x10) >> 4) << (j + 16);
    }
    setU32At(dst, o + 2, qh >>> 0);
  }
}

/** Element e (0..31) of a block's 5-bit value: its nibble from qs and its fifth bit from the word qh. */
export const fiveBitValue = (bytes: Uint8Array, qs: number, qh: number, e: number) =>
  (e < 16 ? bytes[qs + e] & 15 : bytes[qs + e - 16] >> 4) | (((qh >>> e) & 1) << 4);

export function dequantizeRowQ5_0(dst: Float32Array, dstOff: number, src: Uint8Array, srcOff: number, n: number): void {
  for (let b = 0; b < n / 32; b++) {
    const o = srcOff + b * Q5_0_BYTES;
    const d = halfAt(src, o);
    const qh = u32At(src, o + 2);
    for (let e = 0; e < 32; e++) dst[dstOff + b * 32 + e] = (fiveBitValue(src, o + 6, qh, e) - 16) * d;
  }
}

/** Q4_1 / Q5_1: q·d + m, each step rounded (ggml-base is built without FMA). */
function dequantizeRowWithMin(bits: 4 | 5, dst: Float32Array, dstOff: number, src: Uint8Array, srcOff: number, n: number): void {
  const bytes = bits === 4 ? Q4_1_BYTES : Q5_1_BYTES;
  for (let b = 0; b < n / 32; b++) {
    const o = srcOff + b * bytes;
    const d = halfAt(src, o);
    const m = halfAt(src, o + 2);
    const qh = bits === 5 ? u32At(src, o + 4) : 0;
    const qs = o + (bits === 4 ? 4 : 8);
    for (let e = 0; e < 32; e++) dst[dstOff + b * 32 + e] = fround(fround(fiveBitValue(src, qs, qh, e) * d) + m);
  }
}

export const dequantizeRowQ4_1 = (dst: Float32Array, dstOff: number, src: Uint8Array, srcOff: number, n: number) => dequantizeRowWithMin(4, dst, dstOff, src, srcOff, n);
export const dequantizeRowQ5_1 = (dst: Float32Array, dstOff: number, src: Uint8Array, srcOff: number, n: number) => dequantizeRowWithMin(5, dst, dstOff, src, srcOff, n);

/** The fifth-bit word of a Q5_0 (at 2) or Q5_1 (at 4) block. */
export const fifthBitsAt = u32At;
