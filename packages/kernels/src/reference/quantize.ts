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
    // ggml keeps the signed value of largest magnitude (first one on ties) and maps it to -8.
    let amax = 0;
    let max = 0;
    for (let j = 0; j < QK4_0; j++) {
      const v = fround(src[x + j]);
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = fround(max / -8);
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
