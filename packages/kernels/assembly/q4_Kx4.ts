// Q4_K repacked in groups of four rows ("lane = row", as q4_0x8.ts does for Q4_0; our own byte order), for the
// matrices ggml-cpu repacks (rows a multiple of 8) and sums as ggml_gemv_q4_K_8x8_q8_K does: per row and block
// the exact integer Σ_j sc_j·(q·q8)_j and mins term Σ_j m_j·bsums_j, then acc = fma(sum, d·dx, acc) and
// accMins = fma(mins, dmin·dx, accMins) in float32, the row being acc - accMins (vecDotQ4_Kx8Q8_K, the plain
// kernel these equal bit for bit). Four rows share every activation load, and their four sums are one vector
// from the first instruction to the store: no horizontal sums, one vector fma for four rows.
//
// Group-block (rows 4g..4g+3, block b), 576 bytes = 4 × 144, so a group of four rows keeps its bytes:
//   [0, 8)              the four rows' d (f16), [8, 16) their dmin
//   [16 + 16k + 4i, +4) word k (k = 0..2) of row i's 12 packed scale bytes
//   [64 + 16c + 4i, +4) bytes 4c..4c+3 of row i's 128 nibble bytes (c = 0..31)
// Bytes 32j..32j+31 of a row's nibbles hold sub-block 2j (low nibbles) and 2j+1 (high), so the v128 at index
// c = 8j + k, met by activation bytes 64j + 4k.. (low) and 64j + 32 + 4k.. (high) broadcast to every lane,
// adds into lane i the products of row i only. Long rows are then stored in column chunks, chunk-major
// (columnChunks.ts): chunk k of group g at (k·G + g)·per·576 for G groups of `per` group-blocks a chunk.
import { fmaF32x4 } from "./fma";
import { pairSums } from "./lanes";
import { chunkMajor, chunksOf } from "./columnChunks";
import { Q4_K_BYTES, Q8_K_BYTES } from "./kquants";

const GROUP_BLOCK_BYTES: i32 = 4 * Q4_K_BYTES;

/**
 * Rewrites `rows` rows (a multiple of 4) of plain Q4_K at w into the grouped layout (chunk-major when the rows
 * are long), in place; scratch takes 4 · rowBytes.
 */
export function repackQ4_Kx4(w: usize, rowBytes: i32, rows: i32, scratch: usize): void {
  const nb = rowBytes / Q4_K_BYTES;
  const row = <usize>rowBytes;
  for (let r = 0; r < rows; r += 4) {
    const g = w + <usize>r * row;
    memory.copy(scratch, g, 4 * row);
    for (let b = 0; b < nb; b++) {
      const dst = g + <usize>(b * GROUP_BLOCK_BYTES);
      for (let i: usize = 0; i < 4; i++) {
        const src = scratch + i * row + <usize>(b * Q4_K_BYTES);
        store<u16>(dst + 2 * i, load<u16>(src));
        store<u16>(dst + 8 + 2 * i, load<u16>(src, 2));
        for (let k: usize = 0; k < 3; k++) store<u32>(dst + 16 + 16 * k + 4 * i, load<u32>(src + 4 + 4 * k));
        for (let c: usize = 0; c < 32; c++) store<u32>(dst + 64 + 16 * c + 4 * i, load<u32>(src + 16 + 4 * c));
      }
    }
  }
  const chunks = chunksOf(nb);
  if (chunks > 1) chunkMajor(w, rows / 4, chunks, <usize>((nb / chunks) * GROUP_BLOCK_BYTES), scratch);
}

/**
 * Four f16 (u16 in i32 lanes) as exact f32 lanes: the half's bits moved into a float's are its value · 2^-112,
 * then · 2^112. The three constants come in as locals made once per call (see groupQ4_Kx4).
 */
@inline
function halvesToF32(h: v128, sign: v128, magnitude: v128, scale: v128): v128 {
  return f32x4.mul(v128.or(i32x4.shl(v128.and(h, sign), 16), i32x4.shl(v128.and(h, magnitude), 13)), scale);
}

/** Lane i = m_a·P_a + m_b·P_b: u16 pairs of mins in each lane (mins a, b of row i), P the pair of bsums (i16 in both halves). */
@inline
function minPairs(mins: v128, p: v128): v128 {
  return i32x4.dot_i16x8_s(mins, p);
}

/**
 * Lane i = scLow_i·(sub-block 2j of row i · q8) + scHigh_i·(sub-block 2j+1 · q8), exact: the 8 chunks at wq
 * (128 bytes) against activation bytes xq.. (low nibbles) and xq + 32.. (high). Written out, not looped: with a
 * loop over the chunks V8 kept the addresses in spilled registers, and every load32_splat offset became a base
 * register of its own (it folds v128.load's immediate offset, not load32_splat's), so the broadcasts take
 * `xq + 4k` and only 0 or 32 as offsets. Pair sums stay in i16 (8 chunks of 2·15·127 at most: 30,480), two chains
 * each for the low and high nibbles so the dots overlap; lanes 2i, 2i+1 are row i's, widened once.
 */
@inline
function subBlockPair(wq: usize, xq: usize, m4: v128, scLow: v128, scHigh: v128): v128 {
  const v0 = v128.load(wq), v1 = v128.load(wq, 16), v2 = v128.load(wq, 32), v3 = v128.load(wq, 48);
  let low0 = pairSums(v128.load32_splat(xq), v128.and(v0, m4));
  let high0 = pairSums(v128.load32_splat(xq, 32), v128.and(i16x8.shr_u(v0, 4), m4));
  let low1 = pairSums(v128.load32_splat(xq + 4), v128.and(v1, m4));
  let high1 = pairSums(v128.load32_splat(xq + 4, 32), v128.and(i16x8.shr_u(v1, 4), m4));
  low0 = i16x8.add(low0, pairSums(v128.load32_splat(xq + 8), v128.and(v2, m4)));
  high0 = i16x8.add(high0, pairSums(v128.load32_splat(xq + 8, 32), v128.and(i16x8.shr_u(v2, 4), m4)));
  low1 = i16x8.add(low1, pairSums(v128.load32_splat(xq + 12), v128.and(v3, m4)));
  high1 = i16x8.add(high1, pairSums(v128.load32_splat(xq + 12, 32), v128.and(i16x8.shr_u(v3, 4), m4)));
  const v4 = v128.load(wq, 64), v5 = v128.load(wq, 80), v6 = v128.load(wq, 96), v7 = v128.load(wq, 112);
  low0 = i16x8.add(low0, pairSums(v128.load32_splat(xq + 16), v128.and(v4, m4)));
  high0 = i16x8.add(high0, pairSums(v128.load32_splat(xq + 16, 32), v128.and(i16x8.shr_u(v4, 4), m4)));
  low1 = i16x8.add(low1, pairSums(v128.load32_splat(xq + 20), v128.and(v5, m4)));
  high1 = i16x8.add(high1, pairSums(v128.load32_splat(xq + 20, 32), v128.and(i16x8.shr_u(v5, 4), m4)));
  low0 = i16x8.add(low0, pairSums(v128.load32_splat(xq + 24), v128.and(v6, m4)));
  high0 = i16x8.add(high0, pairSums(v128.load32_splat(xq + 24, 32), v128.and(i16x8.shr_u(v6, 4), m4)));
  low1 = i16x8.add(low1, pairSums(v128.load32_splat(xq + 28), v128.and(v7, m4)));
  high1 = i16x8.add(high1, pairSums(v128.load32_splat(xq + 28, 32), v128.and(i16x8.shr_u(v7, 4), m4)));
  const low = i32x4.extadd_pairwise_i16x8_s(i16x8.add(low0, low1)), high = i32x4.extadd_pairwise_i16x8_s(i16x8.add(high0, high1));
  return i32x4.add(i32x4.mul(low, scLow), i32x4.mul(high, scHigh));
}

/**
 * Rows 0-3 of the group-block run at g (nb blocks) · the Q8_K activation at x, continuing the four rows' acc
 * and accMins kept at `at` (two f32x4), so a row cut into column chunks sums its blocks in the same order as
 * one run. The masks are locals made once (V8 rebuilds a splat constant at every use, three instructions each).
 */
@inline
function accumulateQ4_Kx4(at: usize, g: usize, x: usize, nb: i32): void {
  const m4 = i8x16.splat(0xf), lowBytes = i32x4.splat(0x00ff00ff), ff = i32x4.splat(0xff);
  const k3f = i32x4.splat(0x3f3f3f3f), k0f = i32x4.splat(0x0f0f0f0f), k03 = i32x4.splat(0x03030303);
  const sign = i32x4.splat(0x8000), magnitude = i32x4.splat(0x7fff), scale = f32x4.splat(reinterpret<f32>(0x77800000));
  let acc = v128.load(at), accMins = v128.load(at, 16);
  for (let b = 0; b < nb; b++) {
    const q8 = x + 4;
    // The scale words of the four rows, unpacked four rows at a time (get_scale_min_k4 with ggml's kmasks):
    // scales 0-3 are s03's bytes, 4-7 s47's, mins likewise m03's and m47's.
    const u0 = v128.load(g, 16), u1 = v128.load(g, 32), u2 = v128.load(g, 48);
    const s03 = v128.and(u0, k3f);
    const s47 = v128.or(v128.and(u2, k0f), i32x4.shl(v128.and(i32x4.shr_u(u0, 6), k03), 4));
    let sum = subBlockPair(g + 64, q8, m4, v128.and(s03, ff), v128.and(i32x4.shr_u(s03, 8), ff));
    sum = i32x4.add(sum, subBlockPair(g + 192, q8 + 64, m4, v128.and(i32x4.shr_u(s03, 16), ff), i32x4.shr_u(s03, 24)));
    sum = i32x4.add(sum, subBlockPair(g + 320, q8 + 128, m4, v128.and(s47, ff), v128.and(i32x4.shr_u(s47, 8), ff)));
    sum = i32x4.add(sum, subBlockPair(g + 448, q8 + 192, m4, v128.and(i32x4.shr_u(s47, 16), ff), i32x4.shr_u(s47, 24)));
    // Mins: Σ_j m_j·(bsums[2j] + bsums[2j+1]) as four i16 dots of (m_a, m_b) pairs with (P_a, P_b), where
    // m03 & lowBytes holds (m0, m2) in each row's lane and its >> 8 (m1, m3). The pair sums P0..P7 are put in
    // the order P0 P2 P1 P3 P4 P6 P5 P7, so each (P_a, P_b) is one i32 lane, broadcast with an i32 shuffle.
    const m03 = v128.and(u1, k3f);
    const m47 = v128.or(v128.and(i32x4.shr_u(u2, 4), k0f), i32x4.shl(v128.and(i32x4.shr_u(u1, 6), k03), 4));
    const bs = x + 260;
    const p = i16x8.narrow_i32x4_s(i32x4.extadd_pairwise_i16x8_s(v128.load(bs)), i32x4.extadd_pairwise_i16x8_s(v128.load(bs, 16)));
    const pairs = i8x16.shuffle(p, p, 0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 12, 13, 10, 11, 14, 15);
    const mins = i32x4.add(
      i32x4.add(minPairs(v128.and(m03, lowBytes), i32x4.shuffle(pairs, pairs, 0, 0, 0, 0)),
        minPairs(v128.and(i32x4.shr_u(m03, 8), lowBytes), i32x4.shuffle(pairs, pairs, 1, 1, 1, 1))),
      i32x4.add(minPairs(v128.and(m47, lowBytes), i32x4.shuffle(pairs, pairs, 2, 2, 2, 2)),
        minPairs(v128.and(i32x4.shr_u(m47, 8), lowBytes), i32x4.shuffle(pairs, pairs, 3, 3, 3, 3))),
    );
    // d and dmin of the four rows: the group-block's first 16 bytes.
    const halves = v128.load(g), yd = f32x4.splat(load<f32>(x));
    acc = fmaF32x4(f32x4.convert_i32x4_s(sum), f32x4.mul(halvesToF32(i32x4.extend_low_i16x8_u(halves), sign, magnitude, scale), yd), acc);
    accMins = fmaF32x4(f32x4.convert_i32x4_s(mins), f32x4.mul(halvesToF32(i32x4.extend_high_i16x8_u(halves), sign, magnitude, scale), yd), accMins);
    g += <usize>GROUP_BLOCK_BYTES;
    x += <usize>Q8_K_BYTES;
  }
  v128.store(at, acc);
  v128.store(at, accMins, 16);
}

/** Groups whose accumulators decode keeps at once (TILE_GROUPS · 32 bytes of static memory). */
const TILE_GROUPS = 128;
const ACCUMULATORS: usize = memory.data(TILE_GROUPS * 32, 16);

/**
 * out[r] = row r · x (Q8_K) for rows [r0, r1) of a grouped matrix of r1 rows (r1 sets the chunk-major stride;
 * r0 and r1 multiples of 4; rowBytes: nb · 144).
 */
export function matvecQ4_Kx4(out: usize, w: usize, _rowBytes: i32, x: usize, _xs: usize, nb: i32, r0: i32, r1: i32): void {
  const chunks = chunksOf(nb), per = nb / chunks, groups = r1 / 4;
  const pieceBytes = <usize>(per * GROUP_BLOCK_BYTES), chunkBytes = <usize>groups * pieceBytes;
  for (let t = r0; t < r1; t += 4 * TILE_GROUPS) {
    const t1 = min(r1, t + 4 * TILE_GROUPS);
    memory.fill(ACCUMULATORS, 0, <usize>((t1 - t) * 8));
    for (let k = 0; k < chunks; k++) {
      const wk = w + <usize>k * chunkBytes, xk = x + <usize>(k * per * Q8_K_BYTES);
      for (let r = t; r < t1; r += 4) accumulateQ4_Kx4(ACCUMULATORS + <usize>((r - t) * 8), wk + <usize>(r / 4) * pieceBytes, xk, per);
    }
    for (let r = t; r < t1; r += 4) {
      const at = ACCUMULATORS + <usize>((r - t) * 8);
      v128.store(out + <usize>(r * 4), f32x4.sub(v128.load(at), v128.load(at, 16)));
    }
  }
}

/**
 * out[c·outStride + r] = row r · activation row c (Q8_K, xStride bytes apart) for rows [r0, r1) of a matrix of
 * r1 rows and activation rows [0, n): a group's bytes stay in cache while every activation row meets them; per
 * (r, c) the arithmetic is matvecQ4_Kx4's, so prefill and decode agree bit for bit.
 */
export function matmulQ4_Kx4(out: usize, outStride: i32, w: usize, _rowBytes: i32, x: usize, xStride: i32, _xs: usize, nb: i32, r0: i32, r1: i32, n: i32, _scratch: usize): void {
  const chunks = chunksOf(nb), per = nb / chunks, groups = r1 / 4;
  const pieceBytes = <usize>(per * GROUP_BLOCK_BYTES), chunkBytes = <usize>groups * pieceBytes;
  for (let r = r0; r < r1; r += 4) {
    const g = w + <usize>(r / 4) * pieceBytes;
    for (let c = 0; c < n; c++) {
      const xc = x + <usize>(c * xStride);
      memory.fill(ACCUMULATORS, 0, 32);
      for (let k = 0; k < chunks; k++) accumulateQ4_Kx4(ACCUMULATORS, g + <usize>k * chunkBytes, xc + <usize>(k * per * Q8_K_BYTES), per);
      v128.store(out + <usize>((c * outStride + r) * 4), f32x4.sub(v128.load(ACCUMULATORS), v128.load(ACCUMULATORS, 16)));
    }
  }
}
