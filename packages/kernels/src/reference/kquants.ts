// Plain references for the K-quants (ggml-common.h, ggml-quants.c): super-blocks of 256 weights. Dequantizers
// for the weight types, and quantize_row_q8_K_ref for the activations they meet, in float32 (Math.fround)
// wherever ggml works in float, so the reference rounds as ggml does.
import { halfAt } from "./quantize.js";

export const QK_K = 256;
export const Q8_K_BYTES = 4 + QK_K + (QK_K / 16) * 2; // f32 d, 256 int8, 16 int16 sums of 16
export const Q2_K_BYTES = QK_K / 16 + QK_K / 4 + 2 + 2; // 4-bit scales and mins, 2-bit values, f16 d, f16 dmin
export const Q3_K_BYTES = QK_K / 8 + QK_K / 4 + 12 + 2; // high-bit mask, 2-bit values, 6-bit scales, f16 d
export const Q4_K_BYTES = 2 + 2 + 12 + QK_K / 2; // f16 d, f16 dmin, 6-bit scales and mins, nibbles
export const Q5_K_BYTES = 2 + 2 + 12 + QK_K / 8 + QK_K / 2; // as Q4_K, plus one high bit a weight (qh)
export const Q6_K_BYTES = QK_K / 2 + QK_K / 4 + QK_K / 16 + 2; // low nibbles, high 2-bit pairs, int8 scales, f16 d

const fround = Math.fround;
/** ggml's nearest_int: round half to even. */
const nearestInt = (x: number) => {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
};

/** n floats (n % 256 == 0) to Q8_K blocks, as quantize_row_q8_K_ref: the signed value of largest magnitude maps to -127. */
export function quantizeRowQ8_KRef(dst: Uint8Array, dstOff: number, src: ArrayLike<number>, srcOff: number, n: number): void {
  const view = new DataView(dst.buffer, dst.byteOffset);
  for (let b = 0; b < n / QK_K; b++) {
    const x = srcOff + b * QK_K;
    const o = dstOff + b * Q8_K_BYTES;
    let max = 0, amax = 0;
    for (let j = 0; j < QK_K; j++) {
      const v = fround(src[x + j]);
      if (Math.abs(v) > amax) {
        amax = Math.abs(v);
        max = v;
      }
    }
    if (amax === 0) {
      dst.fill(0, o, o + Q8_K_BYTES);
      continue;
    }
    const iscale = fround(-127 / max);
    for (let j = 0; j < QK_K; j++) view.setInt8(o + 4 + j, Math.min(127, nearestInt(fround(iscale * fround(src[x + j])))));
    for (let g = 0; g < QK_K / 16; g++) {
      let sum = 0;
      for (let j = 0; j < 16; j++) sum += view.getInt8(o + 4 + g * 16 + j);
      view.setInt16(o + 260 + g * 2, sum, true);
    }
    view.setFloat32(o, fround(1 / iscale), true);
  }
}

export function dequantizeRowQ8_K(dst: Float32Array, dstOff: number, src: Uint8Array, srcOff: number, n: number): void {
  const view = new DataView(src.buffer, src.byteOffset);
  for (let b = 0; b < n / QK_K; b++) {
    const o = srcOff + b * Q8_K_BYTES;
    const d = view.getFloat32(o, true);
    for (let j = 0; j < QK_K; j++) dst[dstOff + b * QK_K + j] = d * view.getInt8(o + 4 + j);
  }
}

/** Q2_K: 16 groups of 16, w = d·sc·q - dmin·m, with sc and m a scale byte's low and high nibbles, q 2 bits of qs. */
export function dequantizeRowQ2_K(dst: Float32Array, dstOff: number, src: Uint8Array, srcOff: number, n: number): void {
  for (let b = 0; b < n / QK_K; b++) {
    const o = srcOff + b * Q2_K_BYTES;
    const d = halfAt(src, o + 80), dmin = halfAt(src, o + 82);
    for (let half = 0; half < 2; half++) {
      for (let j = 0; j < 4; j++) {
        for (let part = 0; part < 2; part++) {
          const sc = src[o + 8 * half + 2 * j + part];
          const dl = fround(d * (sc & 0xf)), ml = fround(dmin * (sc >> 4));
          for (let l = 16 * part; l < 16 * part + 16; l++) {
            dst[dstOff + b * QK_K + 128 * half + 32 * j + l] = fround(dl * ((src[o + 16 + 32 * half + l] >> (2 * j)) & 3)) - ml;
          }
        }
      }
    }
  }
}

/** Q3_K's scale i (0..15) from the 12 bytes at q[at]: low nibbles in bytes 0-7, top 2 bits in 8-11; less 32. */
export function scaleK3(q: Uint8Array, at: number, i: number): number {
  return (((q[at + (i & 7)] >> (4 * (i >> 3))) & 0xf) | (((q[at + 8 + (i & 3)] >> (2 * (i >> 2))) & 3) << 4)) - 32;
}

/** Q3_K: 16 groups of 16, w = d·sc·(q - 4·(hmask bit clear)), q the 2 bits of qs. */
export function dequantizeRowQ3_K(dst: Float32Array, dstOff: number, src: Uint8Array, srcOff: number, n: number): void {
  for (let b = 0; b < n / QK_K; b++) {
    const o = srcOff + b * Q3_K_BYTES;
    const d = halfAt(src, o + 108);
    for (let half = 0; half < 2; half++) {
      for (let j = 0; j < 4; j++) {
        for (let part = 0; part < 2; part++) {
          const dl = fround(d * scaleK3(src, o + 96, 8 * half + 2 * j + part));
          for (let l = 16 * part; l < 16 * part + 16; l++) {
            const q = ((src[o + 32 + 32 * half + l] >> (2 * j)) & 3) - ((src[o + l] >> (4 * half + j)) & 1 ? 0 : 4);
            dst[dstOff + b * QK_K + 128 * half + 32 * j + l] = dl * q;
          }
        }
      }
    }
  }
}

/** Q4_K's 6-bit scale and min of sub-block j (0..7) from the 12 bytes at q[at] (ggml's get_scale_min_k4). */
export function scaleMinK4(q: Uint8Array, at: number, j: number): [scale: number, min: number] {
  if (j < 4) return [q[at + j] & 63, q[at + j + 4] & 63];
  return [(q[at + j + 4] & 0xf) | ((q[at + j - 4] >> 6) << 4), (q[at + j + 4] >> 4) | ((q[at + j] >> 6) << 4)];
}

/**
 * Q4_K and Q5_K: 8 sub-blocks of 32, each w = d·sc·q - dmin·m; sub-blocks 2i and 2i+1 share bytes (low, high
 * nibbles). A block is d, dmin (f16), 12 bytes of packed scales and mins, then for Q5_K 32 bytes of fifth bits
 * (bit 2i for sub-block 2i's values, 2i+1 for the high nibbles'), then 128 bytes of nibbles.
 */
function dequantizeScaleMinRow(dst: Float32Array, dstOff: number, src: Uint8Array, srcOff: number, n: number, fifthBits: boolean): void {
  const blockBytes = fifthBits ? Q5_K_BYTES : Q4_K_BYTES;
  const nibbles = fifthBits ? 48 : 16;
  for (let b = 0; b < n / QK_K; b++) {
    const o = srcOff + b * blockBytes;
    const d = halfAt(src, o), dmin = halfAt(src, o + 2);
    const y = dstOff + b * QK_K;
    for (let j = 0; j < 4; j++) {
      const [s1, m1] = scaleMinK4(src, o + 4, 2 * j);
      const [s2, m2] = scaleMinK4(src, o + 4, 2 * j + 1);
      const d1 = fround(d * s1), min1 = fround(dmin * m1), d2 = fround(d * s2), min2 = fround(dmin * m2);
      for (let l = 0; l < 32; l++) {
        const q = src[o + nibbles + 32 * j + l], h = fifthBits ? src[o + 16 + l] >> (2 * j) : 0;
        dst[y + 64 * j + l] = fround(d1 * ((q & 0xf) | ((h & 1) << 4))) - min1;
        dst[y + 64 * j + 32 + l] = fround(d2 * ((q >> 4) | ((h & 2) << 3))) - min2;
      }
    }
  }
}

export function dequantizeRowQ4_K(dst: Float32Array, dstOff: number, src: Uint8Array, srcOff: number, n: number): void {
  dequantizeScaleMinRow(dst, dstOff, src, srcOff, n, false);
}

export function dequantizeRowQ5_K(dst: Float32Array, dstOff: number, src: Uint8Array, srcOff: number, n: number): void {
  dequantizeScaleMinRow(dst, dstOff, src, srcOff, n, true);
}

/** Q6_K: 16 groups of 16, each w = d·sc·(q - 32), q's low 4 bits in ql and high 2 in qh. */
export function dequantizeRowQ6_K(dst: Float32Array, dstOff: number, src: Uint8Array, srcOff: number, n: number): void {
  for (let b = 0; b < n / QK_K; b++) {
    const o = srcOff + b * Q6_K_BYTES;
    const d = halfAt(src, o + 208);
    const sc = (i: number) => (src[o + 192 + i] << 24) >> 24;
    for (let half = 0; half < 2; half++) {
      const ql = o + 64 * half, qh = o + 128 + 32 * half, s = 8 * half, y = dstOff + b * QK_K + 128 * half;
      for (let l = 0; l < 32; l++) {
        const is = l >> 4;
        const q1 = ((src[ql + l] & 0xf) | ((src[qh + l] & 3) << 4)) - 32;
        const q2 = ((src[ql + l + 32] & 0xf) | (((src[qh + l] >> 2) & 3) << 4)) - 32;
        const q3 = ((src[ql + l] >> 4) | (((src[qh + l] >> 4) & 3) << 4)) - 32;
        const q4 = ((src[ql + l + 32] >> 4) | (((src[qh + l] >> 6) & 3) << 4)) - 32;
        dst[y + l] = fround(d * sc(s + is)) * q1;
        dst[y + l + 32] = fround(d * sc(s + is + 2)) * q2;
        dst[y + l + 64] = fround(d * sc(s + is + 4)) * q3;
        dst[y + l + 96] = fround(d * sc(s + is + 6)) * q4;
      }
    }
  }
}
