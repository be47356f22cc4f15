// The fast K-quant matrix-vector kernels (Q4_K's, repacked, in q4_Kx4.ts): the integer sums of kquants.ts's plain kernels built 16 weights at a
// time, then the very same float32 steps, so each equals its plain kernel bit for bit (kquants.test.ts checks
// both builds). Rows stay in the file's layout.
//
// The integer core: 16 activation bytes times 16 weights of 0..63 in adjacent pairs (pairSums, i16 lanes,
// exact), then one i32x4.dot_i16x8_s with the 16's scale, which leaves in i32 lane k the scaled sum of elements
// 4k..4k+3: the lane order of ggml's AVX2 vec_dot (maddubs, then madd with the scales). The repacked-gemv
// kernels (x8) reduce those lanes to one exact integer per block, so there the lane order does not matter.
import { chunkMajor, chunksOf } from "./columnChunks";
import { f16Lookup } from "./f16";
import { fmaF32 } from "./fma";
import { fmaLanes, hsum8, pairSums } from "./lanes";
import { Q2_K_BYTES, Q3_K_BYTES, Q5_K_BYTES, Q6_K_BYTES, Q8_K_BYTES } from "./kquants";

/**
 * A block's 16 scales, stored as i16 where scaled() broadcasts one with a single load (vpbroadcastw; a store
 * then a contained load is forwarded). Bytes are taken as signed: Q6_K's and Q3_K's scales are, the others'
 * are below 64.
 */
const SCALES: usize = memory.data(32, 16);

@inline
function setScales(bytes: v128): void {
  v128.store(SCALES, i16x8.extend_low_i8x16_s(bytes));
  v128.store(SCALES, i16x8.extend_high_i8x16_s(bytes), 16);
}

/** i32 lane k = scale i · Σ of pair sums 2k, 2k+1 (elements 4k..4k+3 of the 16 behind p). */
@inline
function scaled(p: v128, i: i32): v128 {
  return i32x4.dot_i16x8_s(p, v128.load16_splat(SCALES + <usize>(2 * i)));
}

/** The sum of an i32x4's lanes (exact). */
@inline
function hsumI32(v: v128): i32 {
  const s = i32x4.add(v, i32x4.shuffle(v, v, 2, 3, 0, 1));
  return i32x4.extract_lane(s, 0) + i32x4.extract_lane(s, 1);
}

/** Q8_K's 16 bsums at bs as eight i16 pair sums: bsums[2j] + bsums[2j+1], sub-block j's (32 elements) sum. */
@inline
function bsumPairs(bs: usize): v128 {
  return i16x8.narrow_i32x4_s(i32x4.extadd_pairwise_i16x8_s(v128.load(bs)), i32x4.extadd_pairwise_i16x8_s(v128.load(bs, 16)));
}

/**
 * A Q4_K/Q5_K block's 12 packed scale bytes at q as 16 u8 lanes, the eight 6-bit scales then the eight mins
 * (get_scale_min_k4, done four at a time as ggml's kmask words do).
 */
@inline
function scalesMinsK4(q: usize): v128 {
  const u0 = load<u32>(q), u1 = load<u32>(q, 4), u2 = load<u32>(q, 8);
  const s47 = (u2 & 0x0f0f0f0f) | (((u0 >> 6) & 0x03030303) << 4);
  const m47 = ((u2 >> 4) & 0x0f0f0f0f) | (((u1 >> 6) & 0x03030303) << 4);
  return i32x4.replace_lane(i32x4.replace_lane(i32x4.replace_lane(i32x4.splat(u0 & 0x3f3f3f3f), 1, s47), 2, u1 & 0x3f3f3f3f), 3, m47);
}


/** Σ_j m_j·(bsums of sub-block j): a Q4_K/Q5_K block's mins term, exact. */
@inline
function minsK4(sm: v128, bs: usize): i32 {
  return hsumI32(i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(sm), bsumPairs(bs)));
}

/**
 * One Q2_K row · Q8_K in the repacked gemv's order (vecDotQ2_Kx8Q8_K). Bytes 32h..32h+31 of qs hold, two bits
 * each, the 32-element groups 4h..4h+3 (shift 2g for group 4h+g); a 16's scale is its scale byte's low nibble.
 */
@inline
function rowQ2_Kx8(w: usize, x: usize, nb: i32): f32 {
  const m3 = i8x16.splat(3), m4 = i8x16.splat(0xf);
  let acc: f32 = 0, accMins: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const yd = load<f32>(x);
    const sc = v128.load(w);
    setScales(v128.and(sc, m4));
    let sum = i32x4.splat(0);
    for (let h = 0; h < 2; h++) {
      const q0 = v128.load(w + 16 + <usize>(32 * h)), q1 = v128.load(w + 32 + <usize>(32 * h));
      for (let g = 0; g < 4; g++) {
        const xq = x + 4 + <usize>(128 * h + 32 * g), s = 8 * h + 2 * g;
        const lo = pairSums(v128.load(xq), v128.and(i16x8.shr_u(q0, <i32>(2 * g)), m3));
        const hi = pairSums(v128.load(xq, 16), v128.and(i16x8.shr_u(q1, <i32>(2 * g)), m3));
        sum = i32x4.add(sum, i32x4.add(scaled(lo, s), scaled(hi, s + 1)));
      }
    }
    // Mins (the high nibbles) times each 16's activation sum.
    const mins = v128.and(i16x8.shr_u(sc, 4), m4), bs = x + 260;
    const minSum = hsumI32(i32x4.add(
      i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(mins), v128.load(bs)),
      i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(mins), v128.load(bs, 16)),
    ));
    acc = fmaF32(<f32>hsumI32(sum), f16Lookup(load<u16>(w, 80)) * yd, acc);
    accMins = fmaF32(<f32>minSum, f16Lookup(load<u16>(w, 82)) * yd, accMins);
    w += <usize>Q2_K_BYTES;
    x += <usize>Q8_K_BYTES;
  }
  return acc - accMins;
}

export function matvecQ2_Kx8(out: usize, w: usize, rowBytes: i32, x: usize, _xs: usize, nb: i32, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) store<f32>(out + <usize>(r * 4), rowQ2_Kx8(w + <usize>r * <usize>rowBytes, x, nb));
}

/** Prefill: each weight row meets every activation row while it is in cache; per (r, c) matvecQ2_Kx8's arithmetic. */
export function matmulQ2_Kx8(out: usize, outStride: i32, w: usize, rowBytes: i32, x: usize, xStride: i32, _xs: usize, nb: i32, r0: i32, r1: i32, n: i32, _scratch: usize): void {
  for (let r = r0; r < r1; r++) {
    const row = w + <usize>r * <usize>rowBytes;
    for (let c = 0; c < n; c++) store<f32>(out + <usize>((c * outStride + r) * 4), rowQ2_Kx8(row, x + <usize>(c * xStride), nb));
  }
}

/**
 * 16 elements of each of the four groups of a half: ql's bytes at ql and ql + 32, qh's at qh (16 each), the
 * activation at x0 + 32g; scales s0 + 2g. (16-bit shifts: the masks keep every bit in its byte; x86 has no
 * 8-bit shift.)
 */
@inline
function q6Chunk(ql: usize, qh: usize, x0: usize, m4: v128, top: v128, s0: i32): v128 {
  const a = v128.load(ql), e = v128.load(ql, 32), h = v128.load(qh);
  const g0 = v128.or(v128.and(a, m4), v128.and(i16x8.shl(h, 4), top));
  const g1 = v128.or(v128.and(e, m4), v128.and(i16x8.shl(h, 2), top));
  const g2 = v128.or(v128.and(i16x8.shr_u(a, 4), m4), v128.and(h, top));
  const g3 = v128.or(v128.and(i16x8.shr_u(e, 4), m4), v128.and(i16x8.shr_u(h, 2), top));
  return i32x4.add(
    i32x4.add(scaled(pairSums(v128.load(x0), g0), s0), scaled(pairSums(v128.load(x0, 32), g1), s0 + 2)),
    i32x4.add(scaled(pairSums(v128.load(x0, 64), g2), s0 + 4), scaled(pairSums(v128.load(x0, 96), g3), s0 + 6)),
  );
}

/**
 * One Q6_K row · Q8_K in vec_dot's eight lanes (vecDotQ6_KQ8_K): per half of 128, ql's low nibbles of bytes
 * 0-31 and 32-63 and their high nibbles are the four groups of 32, qh's bit pairs 0-1, 2-3, 4-5, 6-7 their top
 * bits; elements 0-15 of a group go to lanes 0-3 (scale 2g of the half), 16-31 to lanes 4-7 (scale 2g+1).
 * The -32 offset comes off once per block through bsums, lane k taking 16s 2k and 2k+1, as ggml's madd does.
 * The four chunks are written out (not looped) so every offset and scale index is a constant: 13.3 → 12.5 ns
 * per row-block in cache on a Zen 5.
 */
@inline
function accumulateQ6_K(at: usize, w: usize, x: usize, nb: i32): void {
  const m4 = i8x16.splat(0xf), top = i8x16.splat(0x30);
  let accLo = v128.load(at), accHi = v128.load(at, 16);
  for (let b = 0; b < nb; b++) {
    const d = load<f32>(x) * f16Lookup(load<u16>(w, 208));
    const scales = v128.load(w, 192);
    setScales(scales);
    const xq = x + 4;
    let lo = i32x4.add(q6Chunk(w, w + 128, xq, m4, top, 0), q6Chunk(w + 64, w + 160, xq + 128, m4, top, 8));
    let hi = i32x4.add(q6Chunk(w + 16, w + 144, xq + 16, m4, top, 1), q6Chunk(w + 80, w + 176, xq + 144, m4, top, 9));
    const bs = x + 260;
    lo = i32x4.sub(lo, i32x4.shl(i32x4.dot_i16x8_s(v128.load(bs), i16x8.extend_low_i8x16_s(scales)), 5));
    hi = i32x4.sub(hi, i32x4.shl(i32x4.dot_i16x8_s(v128.load(bs, 16), i16x8.extend_high_i8x16_s(scales)), 5));
    accLo = fmaLanes(accLo, d, lo);
    accHi = fmaLanes(accHi, d, hi);
    w += <usize>Q6_K_BYTES;
    x += <usize>Q8_K_BYTES;
  }
  v128.store(at, accLo);
  v128.store(at, accHi, 16);
}

/** Rows whose accumulators decode keeps at once (TILE_ROWS · 32 bytes of static memory). */
const TILE_ROWS = 128;
const ACCUMULATORS: usize = memory.data(TILE_ROWS * 32, 16);

/** Rewrites a Q6_K matrix with long rows into column chunks, chunk-major (columnChunks.ts), in place; scratch takes rowBytes. */
export function repackQ6_K(w: usize, rowBytes: i32, rows: i32, scratch: usize): void {
  const nb = rowBytes / Q6_K_BYTES, chunks = chunksOf(nb);
  if (chunks > 1) chunkMajor(w, rows, chunks, <usize>((nb / chunks) * Q6_K_BYTES), scratch);
}

/** out[r] = row r · x (Q8_K) for rows [r0, r1) of a matrix of r1 rows, as repackQ6_K left it (r1 sets the chunk-major stride). */
export function matvecQ6_K(out: usize, w: usize, _rowBytes: i32, x: usize, _xs: usize, nb: i32, r0: i32, r1: i32): void {
  const chunks = chunksOf(nb), per = nb / chunks;
  const pieceBytes = <usize>(per * Q6_K_BYTES), chunkBytes = <usize>r1 * pieceBytes;
  for (let t = r0; t < r1; t += TILE_ROWS) {
    const t1 = min(r1, t + TILE_ROWS);
    memory.fill(ACCUMULATORS, 0, <usize>((t1 - t) * 32));
    for (let k = 0; k < chunks; k++) {
      const wk = w + <usize>k * chunkBytes, xk = x + <usize>(k * per * Q8_K_BYTES);
      for (let r = t; r < t1; r++) accumulateQ6_K(ACCUMULATORS + <usize>((r - t) * 32), wk + <usize>r * pieceBytes, xk, per);
    }
    for (let r = t; r < t1; r++) {
      const at = ACCUMULATORS + <usize>((r - t) * 32);
      store<f32>(out + <usize>(r * 4), hsum8(v128.load(at), v128.load(at, 16)));
    }
  }
}

/**
 * Prefill, rows [r0, r1) of a matrix of r1 rows: each weight row meets every activation row while it is in
 * cache; per (r, c) matvecQ6_K's arithmetic.
 */
export function matmulQ6_K(out: usize, outStride: i32, w: usize, _rowBytes: i32, x: usize, xStride: i32, _xs: usize, nb: i32, r0: i32, r1: i32, n: i32, _scratch: usize): void {
  const chunks = chunksOf(nb), per = nb / chunks;
  const pieceBytes = <usize>(per * Q6_K_BYTES), chunkBytes = <usize>r1 * pieceBytes;
  for (let r = r0; r < r1; r++) {
    const row = w + <usize>r * pieceBytes;
    for (let c = 0; c < n; c++) {
      const xc = x + <usize>(c * xStride);
      memory.fill(ACCUMULATORS, 0, 32);
      for (let k = 0; k < chunks; k++) accumulateQ6_K(ACCUMULATORS, row + <usize>k * chunkBytes, xc + <usize>(k * per * Q8_K_BYTES), per);
      store<f32>(out + <usize>((c * outStride + r) * 4), hsum8(v128.load(ACCUMULATORS), v128.load(ACCUMULATORS, 16)));
    }
  }
}

/**
 * One Q5_K row · Q8_K in vec_dot's order (vecDotQ5_KQ8_K): sub-block j's 32 values (nibbles with fifth bit j
 * of qh) split over lanes 0-3 and 4-7 with scale j; the mins one fused scalar sum.
 */
@inline
function rowQ5_K(w: usize, x: usize, nb: i32): f32 {
  const m4 = i8x16.splat(0xf), one = i8x16.splat(1);
  let accLo = f32x4.splat(0), accHi = f32x4.splat(0);
  let mins: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const yd = load<f32>(x);
    const d = yd * f16Lookup(load<u16>(w));
    const dmin = -yd * f16Lookup(load<u16>(w, 2));
    const sm = scalesMinsK4(w + 4);
    setScales(sm);
    mins = fmaF32(dmin, <f32>minsK4(sm, x + 260), mins);
    const h0 = v128.load(w + 16), h1 = v128.load(w + 32);
    let lo = i32x4.splat(0), hi = i32x4.splat(0);
    for (let j = 0; j < 4; j++) {
      const a = v128.load(w + 48 + <usize>(32 * j)), c = v128.load(w + 64 + <usize>(32 * j));
      const xq = x + 4 + <usize>(64 * j);
      const sLow = 2 * j, sHigh = 2 * j + 1;
      const bitLow = 2 * j, bitHigh = 2 * j + 1;
      const la = v128.or(v128.and(a, m4), i16x8.shl(v128.and(i16x8.shr_u(h0, bitLow), one), 4));
      const lc = v128.or(v128.and(c, m4), i16x8.shl(v128.and(i16x8.shr_u(h1, bitLow), one), 4));
      const ha = v128.or(v128.and(i16x8.shr_u(a, 4), m4), i16x8.shl(v128.and(i16x8.shr_u(h0, bitHigh), one), 4));
      const hc = v128.or(v128.and(i16x8.shr_u(c, 4), m4), i16x8.shl(v128.and(i16x8.shr_u(h1, bitHigh), one), 4));
      lo = i32x4.add(lo, i32x4.add(scaled(pairSums(v128.load(xq), la), sLow), scaled(pairSums(v128.load(xq, 32), ha), sHigh)));
      hi = i32x4.add(hi, i32x4.add(scaled(pairSums(v128.load(xq, 16), lc), sLow), scaled(pairSums(v128.load(xq, 48), hc), sHigh)));
    }
    accLo = fmaLanes(accLo, d, lo);
    accHi = fmaLanes(accHi, d, hi);
    w += <usize>Q5_K_BYTES;
    x += <usize>Q8_K_BYTES;
  }
  return hsum8(accLo, accHi) + mins;
}

export function matvecQ5_K(out: usize, w: usize, rowBytes: i32, x: usize, _xs: usize, nb: i32, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) store<f32>(out + <usize>(r * 4), rowQ5_K(w + <usize>r * <usize>rowBytes, x, nb));
}

/** Prefill: each weight row meets every activation row while it is in cache; per (r, c) matvecQ5_K's arithmetic. */
export function matmulQ5_K(out: usize, outStride: i32, w: usize, rowBytes: i32, x: usize, xStride: i32, _xs: usize, nb: i32, r0: i32, r1: i32, n: i32, _scratch: usize): void {
  for (let r = r0; r < r1; r++) {
    const row = w + <usize>r * <usize>rowBytes;
    for (let c = 0; c < n; c++) store<f32>(out + <usize>((c * outStride + r) * 4), rowQ5_K(row, x + <usize>(c * xStride), nb));
  }
}

/** Q3_K's 16 scales (6 bits less 32) of the 12 packed bytes at q, to setScales. */
@inline
function unpackScalesK3(q: usize): void {
  const u0 = load<u32>(q), u1 = load<u32>(q, 4), u2 = load<u32>(q, 8);
  // Scales 0-7: low nibbles of bytes 0-7; 8-15: their high nibbles. Top bits: byte 8 + (i & 3), pair i >> 2.
  const v = i32x4.replace_lane(i32x4.replace_lane(i32x4.replace_lane(i32x4.splat(
    (u0 & 0x0f0f0f0f) | ((u2 & 0x03030303) << 4)), 1,
    (u1 & 0x0f0f0f0f) | (((u2 >> 2) & 0x03030303) << 4)), 2,
    ((u0 >> 4) & 0x0f0f0f0f) | (((u2 >> 4) & 0x03030303) << 4)), 3,
    ((u1 >> 4) & 0x0f0f0f0f) | (((u2 >> 6) & 0x03030303) << 4));
  setScales(i8x16.sub(v, i8x16.splat(32)));
}

/**
 * One Q3_K row · Q8_K in vec_dot's order (vecDotQ3_KQ8_K): a value is its 2 bits less 4 where its hmask bit is
 * clear, taken as two non-negative products (bits, then 4 where clear) subtracted, as ggml's maddubs pair does.
 */
@inline
function rowQ3_K(w: usize, x: usize, nb: i32): f32 {
  const m3 = i8x16.splat(3), one = i8x16.splat(1);
  let accLo = f32x4.splat(0), accHi = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    const d = load<f32>(x) * f16Lookup(load<u16>(w, 108));
    unpackScalesK3(w + 96);
    // Clear hmask bits, each a 1 in its place.
    const n0 = v128.not(v128.load(w)), n1 = v128.not(v128.load(w, 16));
    let lo = i32x4.splat(0), hi = i32x4.splat(0);
    for (let half = 0; half < 2; half++) {
      const q0 = v128.load(w + 32 + <usize>(32 * half)), q1 = v128.load(w + 48 + <usize>(32 * half));
      for (let j = 0; j < 4; j++) {
        const bit = 4 * half + j, xq = x + 4 + <usize>(128 * half + 32 * j), s = 8 * half + 2 * j;
        const x0 = v128.load(xq), x1 = v128.load(xq, 16);
        const p0 = i16x8.sub(pairSums(x0, v128.and(i16x8.shr_u(q0, 2 * j), m3)), pairSums(x0, i16x8.shl(v128.and(i16x8.shr_u(n0, bit), one), 2)));
        const p1 = i16x8.sub(pairSums(x1, v128.and(i16x8.shr_u(q1, 2 * j), m3)), pairSums(x1, i16x8.shl(v128.and(i16x8.shr_u(n1, bit), one), 2)));
        lo = i32x4.add(lo, scaled(p0, s));
        hi = i32x4.add(hi, scaled(p1, s + 1));
      }
    }
    accLo = fmaLanes(accLo, d, lo);
    accHi = fmaLanes(accHi, d, hi);
    w += <usize>Q3_K_BYTES;
    x += <usize>Q8_K_BYTES;
  }
  return hsum8(accLo, accHi);
}

export function matvecQ3_K(out: usize, w: usize, rowBytes: i32, x: usize, _xs: usize, nb: i32, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) store<f32>(out + <usize>(r * 4), rowQ3_K(w + <usize>r * <usize>rowBytes, x, nb));
}

/** Prefill: each weight row meets every activation row while it is in cache; per (r, c) matvecQ3_K's arithmetic. */
export function matmulQ3_K(out: usize, outStride: i32, w: usize, rowBytes: i32, x: usize, xStride: i32, _xs: usize, nb: i32, r0: i32, r1: i32, n: i32, _scratch: usize): void {
  for (let r = r0; r < r1; r++) {
    const row = w + <usize>r * <usize>rowBytes;
    for (let c = 0; c < n; c++) store<f32>(out + <usize>((c * outStride + r) * 4), rowQ3_K(row, x + <usize>(c * xStride), nb));
  }
}
