// K-quants (ggml-common.h): super-blocks of 256 weights. Activations meet them as Q8_K: d (f32), 256 int8,
// then 16 int16 sums of 16 (bsums), through which the dot products apply a block's mins (Q4_K) or offset
// (Q6_K's -32) once per sub-block instead of once per weight.
//
// These are the plain kernels: each integer lane sum is built element by element, exactly, into the eight
// float lanes of ggml-cpu's x86 AVX2 ggml_vec_dot_q{3,4,5,6}_K_q8_K (lane i: elements 4i..4i+3 of every 32-element
// group; each block added as fma(d, lane, acc); lanes.ts). Scalar integer work: slow, and written to be checked
// first (kquants.test.ts): the fast variants in kquantsSimd.ts must equal them bit for bit.
//
// Where ggml-cpu repacks a matrix (q4_K on AVX2 and q2_K on AVX-512, rows a multiple of 8: repack.cpp's
// ggml_gemv_q{2,4}_K_8x8_q8_K), a row's sum takes another order, which the `x8` kernels here keep: per block the
// whole integer sum Σ sc·(q·q8) and the whole mins term Σ m·bsums, each added in float32 as
// fma(sum, d_w·d_x, acc) and fma(mins, dmin_w·d_x, accMins) into two accumulators, and the row is acc - accMins.
import { f16Lookup } from "./f16";
import { fmaF32 } from "./fma";
import { fmaLanes, hsum8 } from "./lanes";

export const QK_K: i32 = 256;
export const Q8_K_BYTES: i32 = 292;
export const Q2_K_BYTES: i32 = 84;
export const Q3_K_BYTES: i32 = 110;
export const Q4_K_BYTES: i32 = 144;
export const Q5_K_BYTES: i32 = 176;
export const Q6_K_BYTES: i32 = 210;

/** ggml's nearest_int: round half to even through the 1.5·2^23 trick (exact for |x| < 2^22). */
@inline
function nearestInt(x: f32): i32 {
  return (reinterpret<i32>(x + <f32>12582912) & 0x007fffff) - 0x00400000;
}

/**
 * n activations (n % 256 == 0) at src to Q8_K blocks at dst as quantize_row_q8_K_ref does (ggml-cpu on x86
 * has no SIMD variant of its own): the signed value of largest magnitude maps to -127, d = 1/iscale, bsums.
 * `_scales` is unused: Q8_K keeps its scale and sums inside the block.
 */
export function quantizeRowQ8_K(dst: usize, _scales: usize, src: usize, n: i32): void {
  for (let b = 0; b < n / QK_K; b++) {
    const x = src + <usize>(b * QK_K * 4);
    const o = dst + <usize>(b * Q8_K_BYTES);
    let max: f32 = 0, amax: f32 = 0;
    for (let j = 0; j < QK_K; j++) {
      const v = load<f32>(x + <usize>(j * 4));
      if (Mathf.abs(v) > amax) {
        amax = Mathf.abs(v);
        max = v;
      }
    }
    if (amax == 0) {
      memory.fill(o, 0, <usize>Q8_K_BYTES);
      continue;
    }
    const iscale: f32 = <f32>-127 / max;
    for (let j = 0; j < QK_K; j++) store<i8>(o + 4 + <usize>j, <i8>min(127, nearestInt(iscale * load<f32>(x + <usize>(j * 4)))));
    for (let g = 0; g < QK_K / 16; g++) {
      let sum = 0;
      for (let j = 0; j < 16; j++) sum += <i32>load<i8>(o + 4 + <usize>(g * 16 + j));
      store<i16>(o + 260 + <usize>(g * 2), <i16>sum);
    }
    store<f32>(o, <f32>1 / iscale);
  }
}

/** Q4_K's 6-bit scale and min of sub-block j (0..7) from its 12 packed bytes at q (get_scale_min_k4). */
@inline
function scaleK4(q: usize, j: i32): i32 {
  return j < 4 ? <i32>load<u8>(q + <usize>j) & 63 : (<i32>load<u8>(q + <usize>(j + 4)) & 0xf) | ((<i32>load<u8>(q + <usize>(j - 4)) >> 6) << 4);
}

@inline
function minK4(q: usize, j: i32): i32 {
  return j < 4 ? <i32>load<u8>(q + <usize>(j + 4)) & 63 : (<i32>load<u8>(q + <usize>(j + 4)) >> 4) | ((<i32>load<u8>(q + <usize>j) >> 6) << 4);
}

/** Q3_K's scale i (0..15), 6 bits less 32, from its 12 packed bytes at q: low nibbles in bytes 0-7, top 2 bits in 8-11. */
@inline
function scaleK3(q: usize, i: i32): i32 {
  const low = (<i32>load<u8>(q + <usize>(i & 7)) >> (4 * (i >> 3))) & 0xf;
  const high = (<i32>load<u8>(q + 8 + <usize>(i & 3)) >> (2 * (i >> 2))) & 3;
  return (low | (high << 4)) - 32;
}

/**
 * Lane k (0..7) of a Q3_K block's integer sum: elements 4k..4k+3 of each 32-element group, the value
 * (2 bits of qs, less 4 where its hmask bit is clear: -4..3) times its activation and its 16's scale.
 */
@inline
function q3KLane(w: usize, q8: usize, k: i32): i32 {
  const hm = w, sc = w + 96;
  let sum = 0;
  for (let half = 0; half < 2; half++) {
    const qs = w + 32 + <usize>(half * 32);
    for (let j = 0; j < 4; j++) {
      const bit = 4 * half + j;
      let t = 0;
      for (let e = 0; e < 4; e++) {
        const l = 4 * k + e;
        const q = ((<i32>load<u8>(qs + <usize>l) >> (2 * j)) & 3) - ((<i32>load<u8>(hm + <usize>l) >> bit) & 1 ? 0 : 4);
        t += q * <i32>load<i8>(q8 + <usize>(half * 128 + j * 32 + l));
      }
      sum += scaleK3(sc, 8 * half + 2 * j + (k >> 2)) * t;
    }
  }
  return sum;
}

/** Σ over nb blocks of Q3_K weights (hmask[32], qs[64], scales[12], d f16) · Q8_K: one fma(d, lane, acc) per lane. */
export function vecDotQ3_KQ8_K(w: usize, x: usize, _xs: usize, nb: i32): f32 {
  let lo = f32x4.splat(0), hi = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    const d = load<f32>(x) * f16Lookup(load<u16>(w, 108));
    const q8 = x + 4;
    lo = fmaLanes(lo, d, lanes4(q3KLane(w, q8, 0), q3KLane(w, q8, 1), q3KLane(w, q8, 2), q3KLane(w, q8, 3)));
    hi = fmaLanes(hi, d, lanes4(q3KLane(w, q8, 4), q3KLane(w, q8, 5), q3KLane(w, q8, 6), q3KLane(w, q8, 7)));
    w += <usize>Q3_K_BYTES;
    x += <usize>Q8_K_BYTES;
  }
  return hsum8(lo, hi);
}

/** Sub-block j's min times its activations' sum (bsums[2j] + bsums[2j+1]). */
@inline
function minTerm(sc: usize, bs: usize, j: i32): i32 {
  return minK4(sc, j) * (<i32>load<i16>(bs + <usize>(j * 4)) + <i32>load<i16>(bs + <usize>(j * 4 + 2)));
}

/** Lane k (0..7) of a Q4_K block's Σ_j sc_j·(q·q8)_j: elements 4k..4k+3 of each of the eight 32-element sub-blocks. */
@inline
function q4KLane(qs: usize, q8: usize, sc: usize, k: i32): i32 {
  let sum = 0;
  for (let j = 0; j < 4; j++) {
    let low = 0, high = 0;
    for (let e = 0; e < 4; e++) {
      const q = <i32>load<u8>(qs + <usize>(j * 32 + 4 * k + e));
      low += (q & 0xf) * <i32>load<i8>(q8 + <usize>(j * 64 + 4 * k + e));
      high += (q >> 4) * <i32>load<i8>(q8 + <usize>(j * 64 + 32 + 4 * k + e));
    }
    sum += scaleK4(sc, 2 * j) * low + scaleK4(sc, 2 * j + 1) * high;
  }
  return sum;
}

@inline
function lanes4(a: i32, b: i32, c: i32, d: i32): v128 {
  return i32x4.replace_lane(i32x4.replace_lane(i32x4.replace_lane(i32x4.splat(a), 1, b), 2, c), 3, d);
}

/**
 * Σ over nb blocks of Q4_K weights (d, dmin f16; 12 bytes of 6-bit scales and mins; 128 bytes of nibbles) at
 * w · Q8_K activations at x: per block, d·Σ_j sc_j·(q·q8)_j in the eight lanes, and dmin·Σ_j m_j·(bsums of
 * sub-block j) in four more (a __m128 in ggml: sub-blocks 2i and 2i+1 in lane i), the two summed at the end
 * (hsum_float_8 + the four lanes' (0+2)+(1+3)).
 */
export function vecDotQ4_KQ8_K(w: usize, x: usize, _xs: usize, nb: i32): f32 {
  let lo = f32x4.splat(0), hi = f32x4.splat(0);
  let m0: f32 = 0, m1: f32 = 0, m2: f32 = 0, m3: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const yd = load<f32>(x);
    const d = yd * f16Lookup(load<u16>(w));
    const dmin = -yd * f16Lookup(load<u16>(w, 2));
    const sc = w + 4, qs = w + 16, q8 = x + 4, bs = x + 260;
    m0 = fmaF32(dmin, <f32>(minTerm(sc, bs, 0) + minTerm(sc, bs, 1)), m0);
    m1 = fmaF32(dmin, <f32>(minTerm(sc, bs, 2) + minTerm(sc, bs, 3)), m1);
    m2 = fmaF32(dmin, <f32>(minTerm(sc, bs, 4) + minTerm(sc, bs, 5)), m2);
    m3 = fmaF32(dmin, <f32>(minTerm(sc, bs, 6) + minTerm(sc, bs, 7)), m3);
    lo = fmaLanes(lo, d, lanes4(q4KLane(qs, q8, sc, 0), q4KLane(qs, q8, sc, 1), q4KLane(qs, q8, sc, 2), q4KLane(qs, q8, sc, 3)));
    hi = fmaLanes(hi, d, lanes4(q4KLane(qs, q8, sc, 4), q4KLane(qs, q8, sc, 5), q4KLane(qs, q8, sc, 6), q4KLane(qs, q8, sc, 7)));
    w += <usize>Q4_K_BYTES;
    x += <usize>Q8_K_BYTES;
  }
  return hsum8(lo, hi) + ((m0 + m2) + (m1 + m3));
}

/** Lane k of a Q5_K block's Σ_j sc_j·(q·q8)_j: as Q4_K's, each value's fifth bit (qh, bit 2j or 2j+1) adding 16. */
@inline
function q5KLane(qh: usize, qs: usize, q8: usize, sc: usize, k: i32): i32 {
  let sum = 0;
  for (let j = 0; j < 4; j++) {
    let low = 0, high = 0;
    for (let e = 0; e < 4; e++) {
      const l = 4 * k + e;
      const q = <i32>load<u8>(qs + <usize>(j * 32 + l));
      const h = <i32>load<u8>(qh + <usize>l) >> (2 * j);
      low += ((q & 0xf) | ((h & 1) << 4)) * <i32>load<i8>(q8 + <usize>(j * 64 + l));
      high += ((q >> 4) | ((h & 2) << 3)) * <i32>load<i8>(q8 + <usize>(j * 64 + 32 + l));
    }
    sum += scaleK4(sc, 2 * j) * low + scaleK4(sc, 2 * j + 1) * high;
  }
  return sum;
}

/**
 * Σ over nb blocks of Q5_K weights (d, dmin f16; 12 bytes of scales and mins as Q4_K's; qh[32]; qs[128]) ·
 * Q8_K: the eight lanes as Q4_K's; the mins, as ggml's AVX2 q5_K kernel does, one scalar float sum
 * (dmin · Σ_j m_j·bsums_j per block, fused) added after hsum_float_8.
 */
export function vecDotQ5_KQ8_K(w: usize, x: usize, _xs: usize, nb: i32): f32 {
  let lo = f32x4.splat(0), hi = f32x4.splat(0);
  let mins: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const yd = load<f32>(x);
    const d = yd * f16Lookup(load<u16>(w));
    const dmin = -yd * f16Lookup(load<u16>(w, 2));
    const sc = w + 4, qh = w + 16, qs = w + 48, q8 = x + 4, bs = x + 260;
    let m = 0;
    for (let j = 0; j < 8; j++) m += minTerm(sc, bs, j);
    mins = fmaF32(dmin, <f32>m, mins);
    lo = fmaLanes(lo, d, lanes4(q5KLane(qh, qs, q8, sc, 0), q5KLane(qh, qs, q8, sc, 1), q5KLane(qh, qs, q8, sc, 2), q5KLane(qh, qs, q8, sc, 3)));
    hi = fmaLanes(hi, d, lanes4(q5KLane(qh, qs, q8, sc, 4), q5KLane(qh, qs, q8, sc, 5), q5KLane(qh, qs, q8, sc, 6), q5KLane(qh, qs, q8, sc, 7)));
    w += <usize>Q5_K_BYTES;
    x += <usize>Q8_K_BYTES;
  }
  return hsum8(lo, hi) + mins;
}

/**
 * Lane k (0..7) of a Q6_K block's integer sum: elements 4k..4k+3 of each 32-element group (the 6-bit value,
 * 0..63, times its activation and its group half's scale), less 32·(bsums[2k]·sc[2k] + bsums[2k+1]·sc[2k+1]),
 * which is the -32 offset of every weight applied once per 16.
 */
@inline
function q6KLane(w: usize, q8: usize, bs: usize, k: i32): i32 {
  let sum = 0;
  for (let half = 0; half < 2; half++) {
    const ql = w + <usize>(half * 64), qh = w + 128 + <usize>(half * 32), sc = w + 192 + <usize>(half * 8), x = q8 + <usize>(half * 128);
    // Groups: low nibbles of ql[0..32) with qh bits 0-1, of ql[32..64) with bits 2-3, then the high nibbles with 4-5 and 6-7.
    for (let g = 0; g < 4; g++) {
      const lq = ql + <usize>((g & 1) * 32);
      let t = 0;
      for (let e = 0; e < 4; e++) {
        const l = 4 * k + e;
        const byte = <i32>load<u8>(lq + <usize>l);
        const q = (g < 2 ? byte & 0xf : byte >> 4) | (((<i32>load<u8>(qh + <usize>l) >> (2 * g)) & 3) << 4);
        t += q * <i32>load<i8>(x + <usize>(g * 32 + l));
      }
      // Elements 0-15 of a group take scale 2g, 16-31 scale 2g+1: lanes 0-3 and 4-7.
      sum += <i32>load<i8>(sc + <usize>(2 * g + (k >> 2))) * t;
    }
  }
  const sc = w + 192;
  const offset = <i32>load<i16>(bs + <usize>(k * 4)) * <i32>load<i8>(sc + <usize>(2 * k)) + <i32>load<i16>(bs + <usize>(k * 4 + 2)) * <i32>load<i8>(sc + <usize>(2 * k + 1));
  return sum - (offset << 5);
}

/**
 * Σ over nb blocks of Q6_K weights (ql[128], qh[64], scales[16] int8, d f16) · Q8_K: all of a block in
 * integers (q6KLane), then one fma(d, lane, acc) per lane.
 */
export function vecDotQ6_KQ8_K(w: usize, x: usize, _xs: usize, nb: i32): f32 {
  let lo = f32x4.splat(0), hi = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    const d = load<f32>(x) * f16Lookup(load<u16>(w, 208));
    const q8 = x + 4, bs = x + 260;
    lo = fmaLanes(lo, d, lanes4(q6KLane(w, q8, bs, 0), q6KLane(w, q8, bs, 1), q6KLane(w, q8, bs, 2), q6KLane(w, q8, bs, 3)));
    hi = fmaLanes(hi, d, lanes4(q6KLane(w, q8, bs, 4), q6KLane(w, q8, bs, 5), q6KLane(w, q8, bs, 6), q6KLane(w, q8, bs, 7)));
    w += <usize>Q6_K_BYTES;
    x += <usize>Q8_K_BYTES;
  }
  return hsum8(lo, hi);
}

export function matvecQ4_K(out: usize, w: usize, rowBytes: i32, x: usize, xs: usize, nb: i32, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) store<f32>(out + <usize>(r * 4), vecDotQ4_KQ8_K(w + <usize>r * <usize>rowBytes, x, xs, nb));
}

/** Q2_K's 16 scale bytes (low nibble the scale, high the min of each 16) at sc: lane k's Σ scale·(q·q8), as q3KLane. */
@inline
function q2KLane(w: usize, q8: usize, k: i32): i32 {
  let sum = 0;
  for (let half = 0; half < 2; half++) {
    const qs = w + 16 + <usize>(half * 32);
    for (let j = 0; j < 4; j++) {
      let t = 0;
      for (let e = 0; e < 4; e++) {
        const l = 4 * k + e;
        t += ((<i32>load<u8>(qs + <usize>l) >> (2 * j)) & 3) * <i32>load<i8>(q8 + <usize>(half * 128 + j * 32 + l));
      }
      sum += (<i32>load<u8>(w + <usize>(8 * half + 2 * j + (k >> 2))) & 0xf) * t;
    }
  }
  return sum;
}

/** Lane i of a Q2_K block's mins term: m[2i]·bsums[2i] + m[2i+1]·bsums[2i+1] (ggml's _mm256_madd_epi16). */
@inline
function q2KMinLane(w: usize, bs: usize, i: i32): i32 {
  return (<i32>load<u8>(w + <usize>(2 * i)) >> 4) * <i32>load<i16>(bs + <usize>(4 * i)) + (<i32>load<u8>(w + <usize>(2 * i + 1)) >> 4) * <i32>load<i16>(bs + <usize>(4 * i + 2));
}

/**
 * Σ over nb blocks of Q2_K weights (scales[16], qs[64], d, dmin f16) · Q8_K in ggml_vec_dot_q2_K_q8_K's AVX2
 * order: per block the mins lanes, then the value lanes, each fma'd into the same eight lanes (dmin taken
 * negative, as ggml does).
 */
export function vecDotQ2_KQ8_K(w: usize, x: usize, _xs: usize, nb: i32): f32 {
  let lo = f32x4.splat(0), hi = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    const yd = load<f32>(x);
    const d = yd * f16Lookup(load<u16>(w, 80));
    const dmin = -yd * f16Lookup(load<u16>(w, 82));
    const q8 = x + 4, bs = x + 260;
    lo = fmaLanes(lo, dmin, lanes4(q2KMinLane(w, bs, 0), q2KMinLane(w, bs, 1), q2KMinLane(w, bs, 2), q2KMinLane(w, bs, 3)));
    hi = fmaLanes(hi, dmin, lanes4(q2KMinLane(w, bs, 4), q2KMinLane(w, bs, 5), q2KMinLane(w, bs, 6), q2KMinLane(w, bs, 7)));
    lo = fmaLanes(lo, d, lanes4(q2KLane(w, q8, 0), q2KLane(w, q8, 1), q2KLane(w, q8, 2), q2KLane(w, q8, 3)));
    hi = fmaLanes(hi, d, lanes4(q2KLane(w, q8, 4), q2KLane(w, q8, 5), q2KLane(w, q8, 6), q2KLane(w, q8, 7)));
    w += <usize>Q2_K_BYTES;
    x += <usize>Q8_K_BYTES;
  }
  return hsum8(lo, hi);
}

export function matvecQ2_K(out: usize, w: usize, rowBytes: i32, x: usize, xs: usize, nb: i32, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) store<f32>(out + <usize>(r * 4), vecDotQ2_KQ8_K(w + <usize>r * <usize>rowBytes, x, xs, nb));
}

/** One row of a repacked Q2_K matrix as ggml_gemv_q2_K_8x8_q8_K sums it (see the header): plain rows, that order. */
export function vecDotQ2_Kx8Q8_K(w: usize, x: usize, _xs: usize, nb: i32): f32 {
  let acc: f32 = 0, accMins: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const yd = load<f32>(x);
    let sum = 0, mins = 0;
    for (let k = 0; k < 8; k++) {
      sum += q2KLane(w, x + 4, k);
      mins += q2KMinLane(w, x + 260, k);
    }
    acc = fmaF32(<f32>sum, f16Lookup(load<u16>(w, 80)) * yd, acc);
    accMins = fmaF32(<f32>mins, f16Lookup(load<u16>(w, 82)) * yd, accMins);
    w += <usize>Q2_K_BYTES;
    x += <usize>Q8_K_BYTES;
  }
  return acc - accMins;
}

/** One row of a repacked Q4_K matrix as ggml_gemv_q4_K_8x8_q8_K sums it: plain rows, that order. */
export function vecDotQ4_Kx8Q8_K(w: usize, x: usize, _xs: usize, nb: i32): f32 {
  let acc: f32 = 0, accMins: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const yd = load<f32>(x);
    let sum = 0, mins = 0;
    for (let k = 0; k < 8; k++) {
      sum += q4KLane(w + 16, x + 4, w + 4, k);
      mins += minTerm(w + 4, x + 260, k);
    }
    acc = fmaF32(<f32>sum, f16Lookup(load<u16>(w)) * yd, acc);
    accMins = fmaF32(<f32>mins, f16Lookup(load<u16>(w, 2)) * yd, accMins);
    w += <usize>Q4_K_BYTES;
    x += <usize>Q8_K_BYTES;
  }
  return acc - accMins;
}


/** matmul's signature for a Q4_K matrix ggml-cpu does not repack (rows not a multiple of 8): matvecQ4_K per activation row. */
export function matmulQ4_K(out: usize, outStride: i32, w: usize, rowBytes: i32, x: usize, xStride: i32, xs: usize, nb: i32, r0: i32, r1: i32, n: i32, _scratch: usize): void {
  for (let c = 0; c < n; c++) matvecQ4_K(out + <usize>(c * outStride * 4), w, rowBytes, x + <usize>(c * xStride), xs, nb, r0, r1);
}

/** The same for Q2_K (matvecQ2_K, vec_dot's order). */
export function matmulQ2_K(out: usize, outStride: i32, w: usize, rowBytes: i32, x: usize, xStride: i32, xs: usize, nb: i32, r0: i32, r1: i32, n: i32, _scratch: usize): void {
  for (let c = 0; c < n; c++) matvecQ2_K(out + <usize>(c * outStride * 4), w, rowBytes, x + <usize>(c * xStride), xs, nb, r0, r1);
}
