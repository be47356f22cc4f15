// Element-wise and row operations of a transformer layer, float32 in and out, with ggml's arithmetic where it
// matters for matching llama.cpp's x86 build: RMSNorm sums squares in double; softmax and SiLU use ggml's
// vector exponential (expf.ts).
import { expF32x4, siluF32x4 } from "./expf";
import { f16Lookup, f16ToF32 } from "./f16";
import { dotF32Lanes, dotF32Sgemm, halvesHigh, halvesLow, loadUpTo } from "./f32";
import { fmaF32, reduceAdd16 } from "./fma";
import { f32ToF16, QK, Q8_0_BYTES } from "./q8_0";

/** out = x / sqrt(mean(x²) + eps) · weight (ggml_rms_norm then ggml_mul: two float roundings). */
export function rmsNorm(out: usize, x: usize, weight: usize, n: i32, eps: f32): void {
  let sum: f64 = 0;
  for (let i = 0; i < n; i++) {
    const v = load<f32>(x + <usize>(i * 4));
    sum += <f64>(v * v);
  }
  const mean = <f32>(sum / <f64>n);
  const scale: f32 = 1 / Mathf.sqrt(mean + eps);
  for (let i = 0; i < n; i++) {
    const o = <usize>(i * 4);
    store<f32>(out + o, load<f32>(x + o) * scale * load<f32>(weight + o));
  }
}

/**
 * Rotates pairs of each head's first nDims dimensions by the angles of one position, given as cos/sin pairs
 * (cs[2i], cs[2i+1]) for pair i. NORM pairs neighbours (2i, 2i+1), as Llama's GGUF layout wants; NEOX pairs
 * i with i + nDims/2 (Qwen2). Dimensions past nDims are left alone. GCC contracts ggml's
 * `x0*cos - x1*sin` and `x0*sin + x1*cos` (rotate_pairs in ggml-cpu/ops.cpp) into fused multiply-adds over
 * the first product, which is what rotate() does.
 */
export function ropeNorm(x: usize, nHeads: i32, headDim: i32, nDims: i32, cs: usize): void {
  for (let h = 0; h < nHeads; h++) {
    const base = x + <usize>(h * headDim * 4);
    for (let i = 0; i < nDims / 2; i++) {
      const c = load<f32>(cs + <usize>(i * 8));
      const s = load<f32>(cs + <usize>(i * 8), 4);
      const p = base + <usize>(i * 8);
      const x0 = load<f32>(p);
      const x1 = load<f32>(p, 4);
      store<f32>(p, rotatedFirst(x0, x1, c, s));
      store<f32>(p, rotatedSecond(x0, x1, c, s), 4);
    }
  }
}

export function ropeNeox(x: usize, nHeads: i32, headDim: i32, nDims: i32, cs: usize): void {
  const half = nDims / 2;
  for (let h = 0; h < nHeads; h++) {
    const base = x + <usize>(h * headDim * 4);
    for (let i = 0; i < half; i++) {
      const c = load<f32>(cs + <usize>(i * 8));
      const s = load<f32>(cs + <usize>(i * 8), 4);
      const p0 = base + <usize>(i * 4);
      const p1 = base + <usize>((i + half) * 4);
      const x0 = load<f32>(p0);
      const x1 = load<f32>(p1);
      store<f32>(p0, rotatedFirst(x0, x1, c, s));
      store<f32>(p1, rotatedSecond(x0, x1, c, s));
    }
  }
}

@inline
function rotatedFirst(x0: f32, x1: f32, c: f32, s: f32): f32 {
  return fmaF32(x0, c, -(x1 * s));
}

@inline
function rotatedSecond(x0: f32, x1: f32, c: f32, s: f32): f32 {
  return fmaF32(x0, s, x1 * c);
}

/**
 * In place: x = softmax(x · scale), as ggml_soft_max_f32 on x86 (AVX-512): exponentials 16 at a time through
 * ggml_v_expf, each group summed in _mm512_reduce_add_ps order into a double. A short last group is padded
 * with zeros, which is what llama.cpp's masked cache cells contribute (its KV length is padded to 256).
 * x holds the scores of positions 0..n-1 for a query at position n-1; a nonzero slope adds ALiBi's bias
 * slope · -(n-1-i) after the scale (0: none).
 */
export function softmax(x: usize, n: i32, scale: f32, slope: f32): void {
  let max: f32 = -Infinity;
  for (let i = 0; i < n; i++) {
    let v = load<f32>(x + <usize>(i * 4)) * scale;
    // ALiBi (ggml_soft_max_ext with max_bias): the mask holds -|distance| and ggml adds slope · mask.
    if (slope != 0) v = fmaF32(slope, <f32>(i - (n - 1)), v);
    store<f32>(x + <usize>(i * 4), v);
    max = Mathf.max(max, v);
  }
  const m = f32x4.splat(max);
  let sum: f64 = 0;
  for (let i = 0; i < n; i += 16) {
    // Past n, -∞: a masked score.
    const e0 = expF32x4(f32x4.sub(loadUpTo(x, i, n, -Infinity), m));
    const e1 = expF32x4(f32x4.sub(loadUpTo(x, i + 4, n, -Infinity), m));
    const e2 = expF32x4(f32x4.sub(loadUpTo(x, i + 8, n, -Infinity), m));
    const e3 = expF32x4(f32x4.sub(loadUpTo(x, i + 12, n, -Infinity), m));
    storeUpTo(x, i, n, e0);
    storeUpTo(x, i + 4, n, e1);
    storeUpTo(x, i + 8, n, e2);
    storeUpTo(x, i + 12, n, e3);
    sum += <f64>reduceAdd16(e0, e1, e2, e3);
  }
  const inv = <f32>(1.0 / sum);
  for (let i = 0; i < n; i++) store<f32>(x + <usize>(i * 4), load<f32>(x + <usize>(i * 4)) * inv);
}

@inline
function storeUpTo(x: usize, i: i32, n: i32, v: v128): void {
  if (i + 4 <= n) {
    v128.store(x + <usize>(i * 4), v);
    return;
  }
  if (i < n) store<f32>(x + <usize>(i * 4), f32x4.extract_lane(v, 0));
  if (i + 1 < n) store<f32>(x + <usize>(i * 4), f32x4.extract_lane(v, 1), 4);
  if (i + 2 < n) store<f32>(x + <usize>(i * 4), f32x4.extract_lane(v, 2), 8);
}

/**
 * out = silu(gate) · up over one row of n, as ggml_vec_swiglu_f32 on x86 (AVX-512): 16 at a time through
 * ggml_v_silu, the rest with libm's expf (Mathf.exp is the same algorithm as glibc's). Call it per row: the
 * split into groups of 16 restarts at every row.
 */
export function swiglu(out: usize, gate: usize, up: usize, n: i32): void {
  const vectorised = n & ~15;
  let i = 0;
  for (; i < vectorised; i += 4) {
    const o = <usize>(i * 4);
    v128.store(out + o, f32x4.mul(siluF32x4(v128.load(gate + o)), v128.load(up + o)));
  }
  for (; i < n; i++) {
    const o = <usize>(i * 4);
    const g = load<f32>(gate + o);
    store<f32>(out + o, (g / (1 + Mathf.exp(-g))) * load<f32>(up + o));
  }
}

export function add(out: usize, a: usize, b: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(out + <usize>(i * 4), f32x4.add(v128.load(a + <usize>(i * 4)), v128.load(b + <usize>(i * 4))));
  for (; i < n; i++) store<f32>(out + <usize>(i * 4), load<f32>(a + <usize>(i * 4)) + load<f32>(b + <usize>(i * 4)));
}

export function scale(out: usize, a: usize, s: f32, n: i32): void {
  const sv = f32x4.splat(s);
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(out + <usize>(i * 4), f32x4.mul(v128.load(a + <usize>(i * 4)), sv));
  for (; i < n; i++) store<f32>(out + <usize>(i * 4), load<f32>(a + <usize>(i * 4)) * s);
}

/** Index of the largest value; the lowest index on ties (as llama.cpp's greedy sampler). NaN never wins. */
export function argmax(x: usize, n: i32): i32 {
  let best = 0;
  let max = load<f32>(x);
  for (let i = 1; i < n; i++) {
    const v = load<f32>(x + <usize>(i * 4));
    if (v > max || (max != max && v == v)) {
      max = v;
      best = i;
    }
  }
  return best;
}

/**
 * out[j] = Σ_t p[t] · V[t][j] over nPos rows of F32 values, rowBytes apart (attention's weighted sum), for a
 * query that is its batch's only row. llama.cpp computes it as V-transposed · p; with one query column
 * ggml-cpu's mul_mat skips tinyBLAS (llamafile_sgemm refuses n < 2) and takes one ggml_vec_dot_f32 per output
 * dimension over its KV length, which is padded to 256 (so a multiple of 64: no sequential tail); the
 * padding's zeros change no sum.
 */
export function accumulateRowsF32(out: usize, p: usize, v: usize, rowBytes: i32, nPos: i32, n: i32): void {
  const padded = (nPos + 63) & ~63;
  for (let j = 0; j < n; j++) store<f32>(out + <usize>(j * 4), dotF32Lanes(p, v + <usize>(j * 4), <usize>rowBytes, nPos, padded));
}

/**
 * The same for a query among several of its batch (a prompt read in one step): with two or more query columns
 * llama.cpp's mul_mat goes through tinyBLAS, which sums in another order (dotF32Sgemm).
 */
export function accumulateRowsF32Tiled(out: usize, p: usize, v: usize, rowBytes: i32, nPos: i32, n: i32): void {
  for (let j = 0; j < n; j++) store<f32>(out + <usize>(j * 4), dotF32Sgemm(p, v + <usize>(j * 4), <usize>rowBytes, nPos));
}

/** The same over F16 values (n a multiple of 8 is fastest). */
export function accumulateRowsF16(out: usize, p: usize, v: usize, rowBytes: i32, nPos: i32, n: i32): void {
  memory.fill(out, 0, <usize>(n * 4));
  for (let t = 0; t < nPos; t++) {
    const ws = load<f32>(p + <usize>(t * 4));
    const w = f32x4.splat(ws);
    const row = v + <usize>t * <usize>rowBytes;
    let j = 0;
    for (; j + 8 <= n; j += 8) {
      const h = v128.load(row + <usize>(j * 2));
      const o = out + <usize>(j * 4);
      v128.store(o, f32x4.add(v128.load(o), f32x4.mul(w, halvesLow(h))));
      v128.store(o, f32x4.add(v128.load(o, 16), f32x4.mul(w, halvesHigh(h))), 16);
    }
    for (; j < n; j++) store<f32>(out + <usize>(j * 4), load<f32>(out + <usize>(j * 4)) + ws * f16ToF32(load<u16>(row + <usize>(j * 2))));
  }
}

/** The same over Q8_0 values (n a multiple of 32). */
export function accumulateRowsQ8_0(out: usize, p: usize, v: usize, rowBytes: i32, nPos: i32, n: i32): void {
  memory.fill(out, 0, <usize>(n * 4));
  for (let t = 0; t < nPos; t++) {
    const w = load<f32>(p + <usize>(t * 4));
    const row = v + <usize>t * <usize>rowBytes;
    for (let b = 0; b < n / QK; b++) {
      const block = row + <usize>(b * Q8_0_BYTES);
      const d = f32x4.splat(w * f16Lookup(load<u16>(block)));
      const o = out + <usize>(b * QK * 4);
      for (let half = 0; half < 2; half++) {
        const q = v128.load(block + 2 + <usize>(half * 16));
        const lo = i16x8.extend_low_i8x16_s(q);
        const hi = i16x8.extend_high_i8x16_s(q);
        const oo = o + <usize>(half * 64);
        v128.store(oo, f32x4.add(v128.load(oo), f32x4.mul(d, f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(lo)))));
        v128.store(oo, f32x4.add(v128.load(oo, 16), f32x4.mul(d, f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(lo)))), 16);
        v128.store(oo, f32x4.add(v128.load(oo, 32), f32x4.mul(d, f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(hi)))), 32);
        v128.store(oo, f32x4.add(v128.load(oo, 48), f32x4.mul(d, f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(hi)))), 48);
      }
    }
  }
}

/**
 * Grouped-query attention scores with an F16 key cache: the g query heads that share a KV head are scored
 * together, so each key row is converted from half once instead of g times. q holds g rows of n floats
 * (already rounded to half values, as ggml converts q to F16 for an F16 K); scores[i·nPos + t] = q_i · K_t.
 */
export function scoresGroupF16(scores: usize, q: usize, k: usize, rowBytes: i32, nPos: i32, n: i32, g: i32, _acc: usize): void {
  // Four heads at a time with their sums in registers (a sum kept in memory makes every step wait for the
  // store before it); each head's additions are in the same order either way, so results do not change.
  let i = 0;
  for (; i + 4 <= g; i += 4) scoresF16x4(scores + <usize>(i * nPos * 4), q + <usize>(i * n * 4), k, rowBytes, nPos, n);
  for (; i < g; i++) scoresF16x1(scores + <usize>(i * nPos * 4), q + <usize>(i * n * 4), k, rowBytes, nPos, n);
}

@inline
function hsum4(a: v128): f32 {
  return f32x4.extract_lane(a, 0) + f32x4.extract_lane(a, 1) + f32x4.extract_lane(a, 2) + f32x4.extract_lane(a, 3);
}

/** q_i · K_t for four heads (q rows n floats apart; scores rows nPos apart): acc += q·lo + q'·hi per 8 elements. */
function scoresF16x4(scores: usize, q: usize, k: usize, rowBytes: i32, nPos: i32, n: i32): void {
  const q1 = q + <usize>(n * 4), q2 = q1 + <usize>(n * 4), q3 = q2 + <usize>(n * 4);
  for (let t = 0; t < nPos; t++) {
    const row = k + <usize>t * <usize>rowBytes;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    for (let j = 0; j + 8 <= n; j += 8) {
      const h = v128.load(row + <usize>(j * 2));
      const lo = halvesLow(h);
      const hi = halvesHigh(h);
      const o = <usize>(j * 4);
      a0 = f32x4.add(a0, f32x4.add(f32x4.mul(v128.load(q + o), lo), f32x4.mul(v128.load(q + o, 16), hi)));
      a1 = f32x4.add(a1, f32x4.add(f32x4.mul(v128.load(q1 + o), lo), f32x4.mul(v128.load(q1 + o, 16), hi)));
      a2 = f32x4.add(a2, f32x4.add(f32x4.mul(v128.load(q2 + o), lo), f32x4.mul(v128.load(q2 + o, 16), hi)));
      a3 = f32x4.add(a3, f32x4.add(f32x4.mul(v128.load(q3 + o), lo), f32x4.mul(v128.load(q3 + o, 16), hi)));
    }
    const s = scores + <usize>(t * 4);
    store<f32>(s, hsum4(a0));
    store<f32>(s + <usize>(nPos * 4), hsum4(a1));
    store<f32>(s + <usize>(2 * nPos * 4), hsum4(a2));
    store<f32>(s + <usize>(3 * nPos * 4), hsum4(a3));
  }
}

function scoresF16x1(scores: usize, q: usize, k: usize, rowBytes: i32, nPos: i32, n: i32): void {
  for (let t = 0; t < nPos; t++) {
    const row = k + <usize>t * <usize>rowBytes;
    let a = f32x4.splat(0);
    for (let j = 0; j + 8 <= n; j += 8) {
      const h = v128.load(row + <usize>(j * 2));
      a = f32x4.add(a, f32x4.add(f32x4.mul(v128.load(q + <usize>(j * 4)), halvesLow(h)), f32x4.mul(v128.load(q + <usize>(j * 4), 16), halvesHigh(h))));
    }
    store<f32>(scores + <usize>(t * 4), hsum4(a));
  }
}

/** out_i += Σ_t p_i[t] · V_t for the g heads sharing an F16 value cache; out holds g rows of n floats. */
export function accumulateGroupF16(out: usize, p: usize, v: usize, rowBytes: i32, nPos: i32, n: i32, g: i32): void {
  memory.fill(out, 0, <usize>(g * n * 4));
  for (let t = 0; t < nPos; t++) {
    const row = v + <usize>t * <usize>rowBytes;
    for (let j = 0; j + 8 <= n; j += 8) {
      const h = v128.load(row + <usize>(j * 2));
      const lo = halvesLow(h);
      const hi = halvesHigh(h);
      for (let i = 0; i < g; i++) {
        const w = f32x4.splat(load<f32>(p + <usize>((i * nPos + t) * 4)));
        const o = out + <usize>((i * n + j) * 4);
        v128.store(o, f32x4.add(v128.load(o), f32x4.mul(w, lo)));
        v128.store(o, f32x4.add(v128.load(o, 16), f32x4.mul(w, hi)), 16);
      }
    }
  }
}

/** Floats rounded to the nearest half value, kept as floats (q for F16 keys). */
export function roundToF16(dst: usize, src: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<f32>(dst + <usize>(i * 4), f16ToF32(f32ToF16(load<f32>(src + <usize>(i * 4)))));
}
