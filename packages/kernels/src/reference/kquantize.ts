// Reference K-quant quantizers, bit-exact with ggml's quantize_row_q2_K_ref … q6_K_ref (ggml/src/ggml-quants.c),
// which is what llama-quantize writes for these types when it has no importance matrix (quantize_q4_K and its
// kin call the _ref functions then). ggml-quants.c is built into ggml-base without -march flags, so every float
// operation there is a plain float32 one (no fused multiply-adds): each is rounded here with Math.fround, in C's
// evaluation order, because one flipped rounding moves a quantized value by a whole step.
import { f16ToF32, f32ToF16 } from "../f16.js";
import { Q2_K_BYTES, Q3_K_BYTES, Q4_K_BYTES, Q5_K_BYTES, Q6_K_BYTES, QK_K, scaleK3, scaleMinK4 } from "./kquants.js";
import { setHalfAt } from "./quantize.js";

const fround = Math.fround;
/** ggml's GROUP_MAX_EPS: a group whose largest magnitude is below it quantizes to zeros. */
const GROUP_MAX_EPS = fround(1e-15);
const TENTH = fround(0.1);

const bits = new Float32Array(1);
const bitsInt = new Int32Array(bits.buffer);
/** ggml's nearest_int: round to nearest even by adding 1.5·2^23 in float32 and reading the mantissa. */
function nearestInt(x: number): number {
  bits[0] = fround(x) + 12582912;
  return (bitsInt[0] & 0x007fffff) - 0x00400000;
}

const clamp = (v: number, lo: number, hi: number) => Math.max(lo, Math.min(hi, v));

/**
 * ggml's make_qkx2_quants: a scale and min for n weighted values (levels 0..nmax), searched over nstep + 1
 * candidate scales by weighted least squares, the error squared or absolute (useMad); L gets the levels.
 * Returns [scale, -min].
 */
function makeQkx2Quants(n: number, nmax: number, x: Float32Array, weights: Float32Array, L: Uint8Array, rmin: number, rdelta: number, nstep: number, useMad = false): [scale: number, min: number] {
  let min = x[0], max = x[0];
  let sumW = weights[0];
  let sumX = fround(sumW * x[0]);
  for (let i = 1; i < n; i++) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    const w = weights[i];
    sumW = fround(sumW + w);
    sumX = fround(sumX + fround(w * x[i]));
  }
  if (min > 0) min = 0;
  if (max === min) {
    L.fill(0, 0, n);
    return [0, -min];
  }
  let iscale = fround(nmax / fround(max - min));
  let scale = fround(1 / iscale);
  const errorOf = (s: number, m: number, levels: Uint8Array) => {
    let e = 0;
    for (let i = 0; i < n; i++) {
      const diff = fround(fround(fround(s * levels[i]) + m) - x[i]);
      e = fround(e + fround(weights[i] * (useMad ? Math.abs(diff) : fround(diff * diff))));
    }
    return e;
  };
  for (let i = 0; i < n; i++) L[i] = clamp(nearestInt(fround(iscale * fround(x[i] - min))), 0, nmax);
  let bestError = errorOf(scale, min, L);
  const aux = new Uint8Array(n);
  for (let is = 0; is <= nstep; is++) {
    // (max - min) with the min of the best candidate so far, as ggml has it.
    iscale = fround(fround(fround(rmin + fround(rdelta * is)) + nmax) / fround(max - min));
    let sumL = 0, sumL2 = 0, sumXL = 0;
    for (let i = 0; i < n; i++) {
      const l = clamp(nearestInt(fround(iscale * fround(x[i] - min))), 0, nmax);
      aux[i] = l;
      const wl = fround(weights[i] * l);
      sumL = fround(sumL + wl);
      sumL2 = fround(sumL2 + fround(wl * l));
      sumXL = fround(sumXL + fround(wl * x[i]));
    }
    const D = fround(fround(sumW * sumL2) - fround(sumL * sumL));
    if (D > 0) {
      let thisScale = fround(fround(fround(sumW * sumXL) - fround(sumX * sumL)) / D);
      let thisMin = fround(fround(fround(sumL2 * sumX) - fround(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = fround(sumXL / sumL2);
      }
      const curError = errorOf(thisScale, thisMin, aux);
      if (curError < bestError) {
        L.set(aux);
        bestError = curError;
        scale = thisScale;
        min = thisMin;
      }
    }
  }
  return [scale, -min];
}

/** Q2_K's and Q3_K's 64 bytes of 2-bit values at dst[at]: byte l of each 32 holds values l, l + 32, l + 64, l + 96 of its 128. */
function packTwoBits(dst: Uint8Array, at: number, L: ArrayLike<number>): void {
  for (let half = 0; half < 2; half++) {
    for (let l = 0; l < 32; l++) {
      const y = 128 * half + l;
      dst[at + 32 * half + l] = L[y] | (L[y + 32] << 2) | (L[y + 64] << 4) | (L[y + 96] << 6);
    }
  }
}

/**
 * Q2_K: per 16 values a scale and min by makeQkx2Quants weighted by |x| (absolute error), both on 4 bits
 * against the block's largest, values on 0..3.
 */
export function quantizeRowQ2_KRef(dst: Uint8Array, dstOff: number, src: ArrayLike<number>, srcOff: number, n: number): void {
  const x = new Float32Array(16), weights = new Float32Array(16), L = new Uint8Array(QK_K), sub = new Uint8Array(16);
  const scales = new Float32Array(16), mins = new Float32Array(16);
  for (let b = 0; b < n / QK_K; b++) {
    const xb = srcOff + b * QK_K, o = dstOff + b * Q2_K_BYTES;
    let maxScale = 0, maxMin = 0;
    for (let j = 0; j < 16; j++) {
      for (let l = 0; l < 16; l++) {
        x[l] = src[xb + 16 * j + l];
        weights[l] = Math.abs(x[l]);
      }
      [scales[j], mins[j]] = makeQkx2Quants(16, 3, x, weights, sub, -0.5, TENTH, 15, true);
      L.set(sub, 16 * j);
      if (scales[j] > maxScale) maxScale = scales[j];
      if (mins[j] > maxMin) maxMin = mins[j];
    }
    let d = 0, dmin = 0;
    if (maxScale > 0) {
      const iscale = fround(15 / maxScale);
      for (let j = 0; j < 16; j++) dst[o + j] = nearestInt(fround(iscale * scales[j])) & 0xff;
      d = f32ToF16(fround(maxScale / 15));
    } else {
      dst.fill(0, o, o + 16);
    }
    if (maxMin > 0) {
      const iscale = fround(15 / maxMin);
      for (let j = 0; j < 16; j++) dst[o + j] |= (nearestInt(fround(iscale * mins[j])) << 4) & 0xff;
      dmin = f32ToF16(fround(maxMin / 15));
    }
    setHalfAt(dst, o + 80, d);
    setHalfAt(dst, o + 82, dmin);
    for (let j = 0; j < 16; j++) {
      const dj = fround(f16ToF32(d) * (dst[o + j] & 0xf));
      if (!dj) continue;
      const dm = fround(f16ToF32(dmin) * (dst[o + j] >> 4));
      for (let i = 0; i < 16; i++) L[16 * j + i] = clamp(nearestInt(fround(fround(fround(src[xb + 16 * j + i]) + dm) / dj)), 0, 3);
    }
    packTwoBits(dst, o + 16, L);
  }
}

/**
 * ggml's make_q3_quants with do_rmse: levels -nmax..nmax-1 for n values from -nmax/max, then up to five
 * passes that move one level at a time while the weighted (x²) fit improves; L gets the levels plus nmax
 * (zeros for an all-zero group). Returns the scale.
 */
function makeQ3Quants(n: number, nmax: number, x: Float32Array, L: Int8Array): number {
  let max = 0, amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < GROUP_MAX_EPS) {
    L.fill(0, 0, n);
    return 0;
  }
  const iscale = fround(-nmax / max);
  let sumLX = 0, sumL2 = 0;
  for (let i = 0; i < n; i++) {
    const l = clamp(nearestInt(fround(iscale * x[i])), -nmax, nmax - 1);
    L[i] = l;
    const w = fround(x[i] * x[i]);
    sumLX = fround(sumLX + fround(fround(w * x[i]) * l));
    sumL2 = fround(sumL2 + fround(fround(w * l) * l));
  }
  for (let pass = 0; pass < 5; pass++) {
    let changed = 0;
    for (let i = 0; i < n; i++) {
      const w = fround(x[i] * x[i]);
      let slx = fround(sumLX - fround(fround(w * x[i]) * L[i]));
      if (slx > 0) {
        let sl2 = fround(sumL2 - fround(fround(w * L[i]) * L[i]));
        const l = clamp(nearestInt(fround(fround(x[i] * sl2) / slx)), -nmax, nmax - 1);
        if (l !== L[i]) {
          slx = fround(slx + fround(fround(w * x[i]) * l));
          sl2 = fround(sl2 + fround(fround(w * l) * l));
          if (sl2 > 0 && fround(fround(slx * slx) * sumL2) > fround(fround(sumLX * sumLX) * sl2)) {
            L[i] = l;
            sumLX = slx;
            sumL2 = sl2;
            changed++;
          }
        }
      }
    }
    if (!changed) break;
  }
  for (let i = 0; i < n; i++) L[i] += nmax;
  return sumL2 > 0 ? fround(sumLX / sumL2) : 0;
}

/**
 * Q3_K: per 16 values a scale by makeQ3Quants, the 16 scales on 6 bits (less 32) against the largest, values
 * on -4..3 as two low bits in qs and a high bit in hmask (bit j / 32 of byte j % 32 for value j).
 */
export function quantizeRowQ3_KRef(dst: Uint8Array, dstOff: number, src: ArrayLike<number>, srcOff: number, n: number): void {
  const x = new Float32Array(16), L = new Int8Array(QK_K), scales = new Float32Array(16);
  for (let b = 0; b < n / QK_K; b++) {
    const xb = srcOff + b * QK_K, o = dstOff + b * Q3_K_BYTES, sc = o + 96;
    let maxScale = 0, amax = 0;
    for (let j = 0; j < 16; j++) {
      for (let i = 0; i < 16; i++) x[i] = src[xb + 16 * j + i];
      scales[j] = makeQ3Quants(16, 4, x, L.subarray(16 * j, 16 * j + 16));
      const abs = Math.abs(scales[j]);
      if (abs > amax) {
        amax = abs;
        maxScale = scales[j];
      }
    }
    dst.fill(0, sc, sc + 12);
    let d = 0;
    if (maxScale) {
      const iscale = fround(-32 / maxScale);
      for (let j = 0; j < 16; j++) {
        // (int8_t) of the int, then clamped and offset to 0..63.
        const l = clamp((nearestInt(fround(iscale * scales[j])) << 24) >> 24, -32, 31) + 32;
        if (j < 8) dst[sc + j] = l & 0xf;
        else dst[sc + j - 8] |= (l & 0xf) << 4;
        dst[sc + 8 + (j % 4)] |= (l >> 4) << (2 * (j >> 2));
      }
      d = f32ToF16(fround(1 / iscale));
    }
    setHalfAt(dst, o + 108, d);
    for (let j = 0; j < 16; j++) {
      const dj = fround(f16ToF32(d) * scaleK3(dst, sc, j));
      if (!dj) continue;
      for (let i = 0; i < 16; i++) L[16 * j + i] = clamp(nearestInt(fround(fround(src[xb + 16 * j + i]) / dj)), -4, 3) + 4;
    }
    dst.fill(0, o, o + 32);
    for (let j = 0; j < QK_K; j++) {
      if (L[j] > 3) {
        dst[o + (j % 32)] |= 1 << (j >> 5);
        L[j] -= 4;
      }
    }
    packTwoBits(dst, o + 32, L);
  }
}

/**
 * Q4_K (nmax 15) and Q5_K (nmax 31): per 32-value sub-block a scale and min by makeQkx2Quants weighted by
 * rms + |x|, both quantized to 6 bits against the block's largest, then every value requantized with them.
 */
function quantizeScaleMinRow(dst: Uint8Array, dstOff: number, src: ArrayLike<number>, srcOff: number, n: number, fifthBit: boolean): void {
  const nmax = fifthBit ? 31 : 15, blockBytes = fifthBit ? Q5_K_BYTES : Q4_K_BYTES, nibbles = fifthBit ? 48 : 16;
  const x = new Float32Array(32), weights = new Float32Array(32), L = new Uint8Array(QK_K);
  const scales = new Float32Array(8), mins = new Float32Array(8), sub = new Uint8Array(32);
  for (let b = 0; b < n / QK_K; b++) {
    const xb = srcOff + b * QK_K, o = dstOff + b * blockBytes;
    let maxScale = 0, maxMin = 0;
    for (let j = 0; j < 8; j++) {
      let sumX2 = 0;
      for (let l = 0; l < 32; l++) {
        x[l] = src[xb + 32 * j + l];
        sumX2 = fround(sumX2 + fround(x[l] * x[l]));
      }
      const avX = fround(Math.sqrt(fround(sumX2 / 32)));
      for (let l = 0; l < 32; l++) weights[l] = fround(avX + Math.abs(x[l]));
      const [scale, min] = fifthBit ? makeQkx2Quants(32, nmax, x, weights, sub, -0.5, TENTH, 15) : makeQkx2Quants(32, nmax, x, weights, sub, -1, TENTH, 20);
      L.set(sub, 32 * j);
      scales[j] = scale;
      mins[j] = min;
      if (scales[j] > maxScale) maxScale = scales[j];
      if (mins[j] > maxMin) maxMin = mins[j];
    }
    const invScale = maxScale > 0 ? fround(63 / maxScale) : 0;
    const invMin = maxMin > 0 ? fround(63 / maxMin) : 0;
    const q = o + 4;
    for (let j = 0; j < 8; j++) {
      // (uint8_t) of the int, then MIN(63, …).
      const ls = Math.min(63, nearestInt(fround(invScale * scales[j])) & 0xff);
      const lm = Math.min(63, nearestInt(fround(invMin * mins[j])) & 0xff);
      if (j < 4) {
        dst[q + j] = ls;
        dst[q + j + 4] = lm;
      } else {
        dst[q + j + 4] = (ls & 0xf) | ((lm & 0xf) << 4);
        dst[q + j - 4] |= (ls >> 4) << 6;
        dst[q + j] |= (lm >> 4) << 6;
      }
    }
    const d = f32ToF16(fround(maxScale / 63)), dmin = f32ToF16(fround(maxMin / 63));
    setHalfAt(dst, o, d);
    setHalfAt(dst, o + 2, dmin);
    for (let j = 0; j < 8; j++) {
      const [sc, m] = scaleMinK4(dst, q, j);
      const dj = fround(f16ToF32(d) * sc);
      if (!dj) continue; // the sub-block keeps makeQkx2Quants' levels
      const dm = fround(f16ToF32(dmin) * m);
      for (let i = 0; i < 32; i++) L[32 * j + i] = clamp(nearestInt(fround(fround(fround(src[xb + 32 * j + i]) + dm) / dj)), 0, nmax);
    }
    // Bytes 32c..32c+31 of the nibbles: values 64c.. (low) and 64c + 32.. (high); Q5_K's fifth bits in qh,
    // bit 2c for the low values and 2c + 1 for the high ones.
    if (fifthBit) dst.fill(0, o + 16, o + 48);
    for (let c = 0; c < 4; c++) {
      for (let l = 0; l < 32; l++) {
        let lo = L[64 * c + l], hi = L[64 * c + 32 + l];
        if (fifthBit) {
          if (lo > 15) { lo -= 16; dst[o + 16 + l] |= 1 << (2 * c); }
          if (hi > 15) { hi -= 16; dst[o + 16 + l] |= 2 << (2 * c); }
        }
        dst[o + nibbles + 32 * c + l] = lo | (hi << 4);
      }
    }
  }
}

export function quantizeRowQ4_KRef(dst: Uint8Array, dstOff: number, src: ArrayLike<number>, srcOff: number, n: number): void {
  quantizeScaleMinRow(dst, dstOff, src, srcOff, n, false);
}

export function quantizeRowQ5_KRef(dst: Uint8Array, dstOff: number, src: ArrayLike<number>, srcOff: number, n: number): void {
  quantizeScaleMinRow(dst, dstOff, src, srcOff, n, true);
}

/**
 * ggml's make_qx_quants with rmse_type 1 (weights x²) and no importance: the scale of n values on levels
 * -nmax..nmax-1, searched over 19 candidate scales; L gets the levels plus nmax.
 */
function makeQxQuants(n: number, nmax: number, x: Float32Array, L: Int8Array): number {
  let max = 0, amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < GROUP_MAX_EPS) {
    L.fill(0, 0, n);
    return 0;
  }
  const levels = (iscale: number) => {
    for (let i = 0; i < n; i++) L[i] = nmax + clamp(nearestInt(fround(iscale * x[i])), -nmax, nmax - 1);
  };
  const sums = (iscale: number): [sumLX: number, sumL2: number] => {
    let sumLX = 0, sumL2 = 0;
    for (let i = 0; i < n; i++) {
      const l = clamp(nearestInt(fround(iscale * x[i])), -nmax, nmax - 1);
      const w = fround(x[i] * x[i]);
      sumLX = fround(sumLX + fround(fround(w * x[i]) * l));
      sumL2 = fround(sumL2 + fround(fround(w * l) * l));
    }
    return [sumLX, sumL2];
  };
  const iscale0 = fround(-nmax / max);
  levels(iscale0);
  let [sumLX, sumL2] = sums(iscale0);
  let scale = sumL2 ? fround(sumLX / sumL2) : 0;
  let best = fround(scale * sumLX);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    const iscale = fround(-fround(nmax + fround(TENTH * is)) / max);
    [sumLX, sumL2] = sums(iscale);
    if (sumL2 > 0 && fround(sumLX * sumLX) > fround(best * sumL2)) {
      levels(iscale);
      scale = fround(sumLX / sumL2);
      best = fround(scale * sumLX);
    }
  }
  return scale;
}

/** Q6_K: per 16 values a scale by makeQxQuants, the 16 scales as int8 against the largest, values on -32..31. */
export function quantizeRowQ6_KRef(dst: Uint8Array, dstOff: number, src: ArrayLike<number>, srcOff: number, n: number): void {
  const x = new Float32Array(16), L = new Int8Array(QK_K), scales = new Float32Array(16);
  for (let b = 0; b < n / QK_K; b++) {
    const xb = srcOff + b * QK_K, o = dstOff + b * Q6_K_BYTES;
    let maxScale = 0, maxAbsScale = 0;
    for (let ib = 0; ib < 16; ib++) {
      for (let i = 0; i < 16; i++) x[i] = src[xb + 16 * ib + i];
      // Its levels stay in L for a sub-block whose scale then rounds to 0.
      scales[ib] = makeQxQuants(16, 32, x, L.subarray(16 * ib, 16 * ib + 16));
      const abs = Math.abs(scales[ib]);
      if (abs > maxAbsScale) {
        maxAbsScale = abs;
        maxScale = scales[ib];
      }
    }
    if (maxAbsScale < GROUP_MAX_EPS) {
      dst.fill(0, o, o + Q6_K_BYTES);
      continue;
    }
    const iscale = fround(-128 / maxScale);
    const d = f32ToF16(fround(1 / iscale));
    setHalfAt(dst, o + 208, d);
    for (let ib = 0; ib < 16; ib++) dst[o + 192 + ib] = Math.min(127, nearestInt(fround(iscale * scales[ib]))) & 0xff;
    for (let j = 0; j < 16; j++) {
      const dj = fround(f16ToF32(d) * ((dst[o + 192 + j] << 24) >> 24));
      if (!dj) continue;
      for (let i = 0; i < 16; i++) L[16 * j + i] = clamp(nearestInt(fround(fround(src[xb + 16 * j + i]) / dj)), -32, 31) + 32;
    }
    for (let half = 0; half < 2; half++) {
      const ql = o + 64 * half, qh = o + 128 + 32 * half, y = 128 * half;
      for (let l = 0; l < 32; l++) {
        const q1 = L[y + l], q2 = L[y + l + 32], q3 = L[y + l + 64], q4 = L[y + l + 96];
        dst[ql + l] = (q1 & 0xf) | ((q3 & 0xf) << 4);
        dst[ql + l + 32] = (q2 & 0xf) | ((q4 & 0xf) << 4);
        dst[qh + l] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6);
      }
    }
  }
}
