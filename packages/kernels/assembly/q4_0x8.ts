// Q4_0 repacked in groups of eight rows ("lane = row", the idea of ggml-cpu's block_q4_0x8 in repack.cpp; our
// own byte order). llama.cpp repacks every Q4_0 matrix whose rows are a multiple of 8 and then adds each row's
// blocks as acc = fma(Σ(nibble - 8)·q, d_w·d_x, acc) in float32; the kernels here keep that order bit for bit,
// and the layout lets one vector instruction serve four rows at every step.
//
// Group-block (rows 8g..8g+7, block b), 144 bytes = 8 × 18, so a group of eight rows keeps its bytes:
//   [0, 16)              the eight rows' f16 scales
//   [16 + 32k + 4i, +4)  bytes 4k..4k+3 of row i's 16 nibble bytes (k = 0..3, i = 0..7)
// One v128 at 16 + 32k holds four bytes of each of rows 0-3, the next of rows 4-7. Broadcast the matching four
// activation bytes to every lane, and the integer dot adds into lane i the products of row i only: no
// horizontal sums. Low nibbles are elements 4k..4k+3, high ones 16+4k..16+4k+3.
import { fmaF32x4 } from "./fma";
import { quadDots as dot } from "./lanes";
import { Q8_0_BYTES } from "./q8_0";

export const Q4_0_BYTES: i32 = 18;
export const GROUP_BLOCK_BYTES: i32 = 8 * Q4_0_BYTES;

/**
 * Rewrites `rows` rows (a multiple of 8) of plain Q4_0 at w into the grouped layout, in place; `scratch` takes
 * 8 · rowBytes.
 */
export function repackQ4_0x8(w: usize, rowBytes: i32, rows: i32, scratch: usize): void {
  const nb = rowBytes / Q4_0_BYTES;
  const groupBytes = <usize>(8 * rowBytes);
  const row = <usize>rowBytes;
  for (let r = 0; r < rows; r += 8) {
    const g = w + <usize>r * row;
    memory.copy(scratch, g, groupBytes);
    let src = scratch;
    let dst = g;
    for (let b = 0; b < nb; b++) {
      // Slice k of rows 0-3 is lane k of each row's nibbles, as i32: a 4 × 4 transpose (and again for rows 4-7).
      transpose4(dst + 16, v128.load(src, 2), v128.load(src + row, 2), v128.load(src + 2 * row, 2), v128.load(src + 3 * row, 2));
      transpose4(dst + 32, v128.load(src + 4 * row, 2), v128.load(src + 5 * row, 2), v128.load(src + 6 * row, 2), v128.load(src + 7 * row, 2));
      for (let i: usize = 0; i < 8; i++) store<u16>(dst + 2 * i, load<u16>(src + i * row));
      src += <usize>Q4_0_BYTES;
      dst += <usize>GROUP_BLOCK_BYTES;
    }
  }
}

/** Stores lane k of a, b, c, d as one v128 at dst + 32k (k = 0..3). */
@inline
function transpose4(dst: usize, a: v128, b: v128, c: v128, d: v128): void {
  const ab0 = i32x4.shuffle(a, b, 0, 4, 1, 5), ab1 = i32x4.shuffle(a, b, 2, 6, 3, 7);
  const cd0 = i32x4.shuffle(c, d, 0, 4, 1, 5), cd1 = i32x4.shuffle(c, d, 2, 6, 3, 7);
  v128.store(dst, i32x4.shuffle(ab0, cd0, 0, 1, 4, 5));
  v128.store(dst, i32x4.shuffle(ab0, cd0, 2, 3, 6, 7), 32);
  v128.store(dst, i32x4.shuffle(ab1, cd1, 0, 1, 4, 5), 64);
  v128.store(dst, i32x4.shuffle(ab1, cd1, 2, 3, 6, 7), 96);
}

/**
 * Four f16 weight scales (the u16 lanes of v shuffled into the high half of i32 lanes) times an activation
 * scale, rounded as f32(half) · dx is: the half's bits moved into a float's (sign to bit 31, exponent and
 * mantissa to bits 13-27) are the value · 2^-112 exactly, normal or subnormal half alike, and dxUp (dx · 2^112,
 * exact and finite: dx is itself a half) restores the factor inside the one rounded product. (A half infinity
 * or NaN, which no valid scale is, becomes a large finite value here.)
 */
@inline
function scalesTimes(halvesInHighBits: v128, dxUp: v128): v128 {
  return f32x4.mul(v128.and(i32x4.shr_s(halvesInHighBits, 3), i32x4.splat(0x8fffe000)), dxUp);
}

/** An activation block's scale (a half's value as f32, at xs) times 2^112, for scalesTimes. */
@inline
function dxUp(xs: usize): v128 {
  return f32x4.splat(load<f32>(xs) * reinterpret<f32>(0x77800000));
}

/** The scales of rows 0-3 (low) and 4-7 (high) of a group-block, each in the high half of an i32 lane. */
@inline
function halvesLow(h: v128): v128 {
  return i8x16.shuffle(i32x4.splat(0), h, 0, 1, 16, 17, 0, 1, 18, 19, 0, 1, 20, 21, 0, 1, 22, 23);
}

@inline
function halvesHigh(h: v128): v128 {
  return i8x16.shuffle(i32x4.splat(0), h, 0, 1, 24, 25, 0, 1, 26, 27, 0, 1, 28, 29, 0, 1, 30, 31);
}

/**
 * out[r] = row r · x (Q8_0, its per-block d and Σq at xs) for rows [r0, r1) of grouped weights, r0 and r1
 * multiples of 8 (rowBytes: a plain row's bytes, nb · 18).
 */
export function matvecQ4_0x8(out: usize, w: usize, rowBytes: i32, x: usize, xs: usize, nb: i32, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r += 8) groupQ4_0x8(out + <usize>(r * 4), w + <usize>r * <usize>rowBytes, x, xs, nb);
}

/** Rows 0-7 of the group at g · the activation at a (its d and Σq at as): outputs at out. */
@inline
function groupQ4_0x8(out: usize, g: usize, a: usize, as: usize, nb: i32): void {
  const mask = i8x16.splat(0x0f);
  let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    // Eight short integer chains (s, t, u, v for rows 0-3 and 4-7) rather than two long ones: the block's
    // dots finish sooner, so the loads of the next blocks issue earlier (from DRAM: 15-16 GB/s against 11-12).
    const z = i32x4.splat(0);
    // Σ(nibble - 8)·q = Σ nibble·q - 8·Σq: start from the "-8" term, exact in integers.
    let s0 = i32x4.splat(-8 * load<i32>(as, 4));
    let s1 = s0;
    let t0 = z, t1 = z, u0 = z, u1 = z, v0 = z, v1 = z;
    let lo = v128.load32_splat(a, 2), hi = v128.load32_splat(a, 18);
    let q0 = v128.load(g, 16), q1 = v128.load(g, 32);
    s0 = dot(lo, v128.and(q0, mask), s0); t0 = dot(hi, v128.and(i16x8.shr_u(q0, 4), mask), t0);
    s1 = dot(lo, v128.and(q1, mask), s1); t1 = dot(hi, v128.and(i16x8.shr_u(q1, 4), mask), t1);
    lo = v128.load32_splat(a, 6); hi = v128.load32_splat(a, 22);
    q0 = v128.load(g, 48); q1 = v128.load(g, 64);
    u0 = dot(lo, v128.and(q0, mask), u0); v0 = dot(hi, v128.and(i16x8.shr_u(q0, 4), mask), v0);
    u1 = dot(lo, v128.and(q1, mask), u1); v1 = dot(hi, v128.and(i16x8.shr_u(q1, 4), mask), v1);
    lo = v128.load32_splat(a, 10); hi = v128.load32_splat(a, 26);
    q0 = v128.load(g, 80); q1 = v128.load(g, 96);
    s0 = dot(lo, v128.and(q0, mask), s0); t0 = dot(hi, v128.and(i16x8.shr_u(q0, 4), mask), t0);
    s1 = dot(lo, v128.and(q1, mask), s1); t1 = dot(hi, v128.and(i16x8.shr_u(q1, 4), mask), t1);
    lo = v128.load32_splat(a, 14); hi = v128.load32_splat(a, 30);
    q0 = v128.load(g, 112); q1 = v128.load(g, 128);
    u0 = dot(lo, v128.and(q0, mask), u0); v0 = dot(hi, v128.and(i16x8.shr_u(q0, 4), mask), v0);
    u1 = dot(lo, v128.and(q1, mask), u1); v1 = dot(hi, v128.and(i16x8.shr_u(q1, 4), mask), v1);
    s0 = i32x4.add(i32x4.add(s0, t0), i32x4.add(u0, v0)); s1 = i32x4.add(i32x4.add(s1, t1), i32x4.add(u1, v1));
    const halves = v128.load(g);
    const dx = dxUp(as);
    // A block's sum is at most 32·8·127 in magnitude: exact as a float.
    acc0 = fmaF32x4(f32x4.convert_i32x4_s(s0), scalesTimes(halvesLow(halves), dx), acc0);
    acc1 = fmaF32x4(f32x4.convert_i32x4_s(s1), scalesTimes(halvesHigh(halves), dx), acc1);
    g += <usize>GROUP_BLOCK_BYTES;
    a += <usize>Q8_0_BYTES;
    as += 8;
  }
  v128.store(out, acc0);
  v128.store(out, acc1, 16);
}

/** Activation rows per chunk of matmulQ4_0x8: their Q8_0 rows (≈ 1.1 bytes per column each) stay in L2. */
const CHUNK: i32 = 32;

/**
 * out[c·outStride + r] = row r · activation row c (Q8_0, xStride bytes apart, nb (d, Σq) pairs per row at xs)
 * for rows [r0, r1) (multiples of 8) and activation rows [0, n). A group's eight rows (nb · 144 bytes) stay in
 * L1 while every activation row of a chunk meets them, four at a time: each weight vector is split into
 * nibbles once for four (two for 80-90 GFLOP/s, four for 110-116, on 2048 × 2048 × 128 in one run). Per
 * (r, c) the arithmetic is exactly matvecQ4_0x8's, so prefill and decode agree bit for bit.
 */
export function matmulQ4_0x8(out: usize, outStride: i32, w: usize, rowBytes: i32, x: usize, xStride: i32, xs: usize, nb: i32, r0: i32, r1: i32, n: i32, _scratch: usize): void {
  const xsStride = nb * 8;
  for (let c0 = 0; c0 < n; c0 += CHUNK) {
    const c1 = min(n, c0 + CHUNK);
    for (let r = r0; r < r1; r += 8) {
      const g = w + <usize>r * <usize>rowBytes;
      let c = c0;
      for (; c + 4 <= c1; c += 4) {
        const xa = x + <usize>(c * xStride);
        const sa = xs + <usize>(c * xsStride);
        quadQ4_0x8(out + <usize>((c * outStride + r) * 4), <usize>(outStride * 4), g, xa, <usize>xStride, sa, <usize>xsStride, nb);
      }
      for (; c + 2 <= c1; c += 2) {
        const xa = x + <usize>(c * xStride), xb = xa + <usize>xStride;
        const sa = xs + <usize>(c * xsStride), sb = sa + <usize>xsStride;
        pairQ4_0x8(out + <usize>((c * outStride + r) * 4), <usize>(outStride * 4), g, xa, xb, sa, sb, nb);
      }
      if (c < c1) {
        matvecQ4_0x8(out + <usize>((c * outStride) * 4), w, rowBytes, x + <usize>(c * xStride), xs + <usize>(c * xsStride), nb, r, r + 8);
      }
    }
  }
}

/** A group's eight rows against activation rows a and b: outputs at out and out + outGap. */
@inline
function pairQ4_0x8(out: usize, outGap: usize, g: usize, xa: usize, xb: usize, sa: usize, sb: usize, nb: i32): void {
  const mask = i8x16.splat(0x0f);
  let accA0 = f32x4.splat(0), accA1 = f32x4.splat(0), accB0 = f32x4.splat(0), accB1 = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    let a0 = i32x4.splat(-8 * load<i32>(sa, 4));
    let b0 = i32x4.splat(-8 * load<i32>(sb, 4));
    let a1 = a0, b1 = b0;
    for (let k = 0; k < 4; k++) {
      const q0 = v128.load(g + <usize>(16 + 32 * k)), q1 = v128.load(g + <usize>(32 + 32 * k));
      const l0 = v128.and(q0, mask), h0 = v128.and(i16x8.shr_u(q0, 4), mask);
      const l1 = v128.and(q1, mask), h1 = v128.and(i16x8.shr_u(q1, 4), mask);
      let lo = v128.load32_splat(xa + <usize>(2 + 4 * k)), hi = v128.load32_splat(xa + <usize>(18 + 4 * k));
      a0 = dot(hi, h0, dot(lo, l0, a0));
      a1 = dot(hi, h1, dot(lo, l1, a1));
      lo = v128.load32_splat(xb + <usize>(2 + 4 * k)); hi = v128.load32_splat(xb + <usize>(18 + 4 * k));
      b0 = dot(hi, h0, dot(lo, l0, b0));
      b1 = dot(hi, h1, dot(lo, l1, b1));
    }
    const halves = v128.load(g);
    const w0 = halvesLow(halves), w1 = halvesHigh(halves);
    const da = dxUp(sa), db = dxUp(sb);
    accA0 = fmaF32x4(f32x4.convert_i32x4_s(a0), scalesTimes(w0, da), accA0);
    accA1 = fmaF32x4(f32x4.convert_i32x4_s(a1), scalesTimes(w1, da), accA1);
    accB0 = fmaF32x4(f32x4.convert_i32x4_s(b0), scalesTimes(w0, db), accB0);
    accB1 = fmaF32x4(f32x4.convert_i32x4_s(b1), scalesTimes(w1, db), accB1);
    g += <usize>GROUP_BLOCK_BYTES;
    xa += <usize>Q8_0_BYTES;
    xb += <usize>Q8_0_BYTES;
    sa += 8;
    sb += 8;
  }
  v128.store(out, accA0);
  v128.store(out, accA1, 16);
  v128.store(out + outGap, accB0);
  v128.store(out + outGap, accB1, 16);
}


/**
 * A group's eight rows against four activation rows (xGap, sGap apart): the integer sums of all four stay in
 * registers; their float accumulators (out + i·outGap, llama.cpp's chain per row) go through memory, for
 * want of registers (WebAssembly on x86 has sixteen).
 */
@inline
function quadQ4_0x8(out: usize, outGap: usize, g: usize, xa: usize, xGap: usize, sa: usize, sGap: usize, nb: i32): void {
  const mask = i8x16.splat(0x0f);
  const zero = f32x4.splat(0);
  for (let i: usize = 0; i < 4; i++) { v128.store(out + i * outGap, zero); v128.store(out + i * outGap, zero, 16); }
  let xb = xa + xGap, xc = xb + xGap, xd = xc + xGap;
  for (let b = 0; b < nb; b++) {
    let a0 = i32x4.splat(-8 * load<i32>(sa, 4));
    let b0 = i32x4.splat(-8 * load<i32>(sa + sGap, 4));
    let c0 = i32x4.splat(-8 * load<i32>(sa + 2 * sGap, 4));
    let d0 = i32x4.splat(-8 * load<i32>(sa + 3 * sGap, 4));
    let a1 = a0, b1 = b0, c1 = c0, d1 = d0;
    for (let k = 0; k < 4; k++) {
      const q0 = v128.load(g + <usize>(16 + 32 * k)), q1 = v128.load(g + <usize>(32 + 32 * k));
      const l0 = v128.and(q0, mask), h0 = v128.and(i16x8.shr_u(q0, 4), mask);
      const l1 = v128.and(q1, mask), h1 = v128.and(i16x8.shr_u(q1, 4), mask);
      let lo = v128.load32_splat(xa + <usize>(2 + 4 * k)), hi = v128.load32_splat(xa + <usize>(18 + 4 * k));
      a0 = dot(hi, h0, dot(lo, l0, a0)); a1 = dot(hi, h1, dot(lo, l1, a1));
      lo = v128.load32_splat(xb + <usize>(2 + 4 * k)); hi = v128.load32_splat(xb + <usize>(18 + 4 * k));
      b0 = dot(hi, h0, dot(lo, l0, b0)); b1 = dot(hi, h1, dot(lo, l1, b1));
      lo = v128.load32_splat(xc + <usize>(2 + 4 * k)); hi = v128.load32_splat(xc + <usize>(18 + 4 * k));
      c0 = dot(hi, h0, dot(lo, l0, c0)); c1 = dot(hi, h1, dot(lo, l1, c1));
      lo = v128.load32_splat(xd + <usize>(2 + 4 * k)); hi = v128.load32_splat(xd + <usize>(18 + 4 * k));
      d0 = dot(hi, h0, dot(lo, l0, d0)); d1 = dot(hi, h1, dot(lo, l1, d1));
    }
    const halves = v128.load(g);
    const w0 = halvesLow(halves), w1 = halvesHigh(halves);
    accumulateTo(out, a0, a1, w0, w1, dxUp(sa));
    accumulateTo(out + outGap, b0, b1, w0, w1, dxUp(sa + sGap));
    accumulateTo(out + 2 * outGap, c0, c1, w0, w1, dxUp(sa + 2 * sGap));
    accumulateTo(out + 3 * outGap, d0, d1, w0, w1, dxUp(sa + 3 * sGap));
    g += <usize>GROUP_BLOCK_BYTES;
    xa += <usize>Q8_0_BYTES; xb += <usize>Q8_0_BYTES; xc += <usize>Q8_0_BYTES; xd += <usize>Q8_0_BYTES;
    sa += 8;
  }
}

/** out[0..8) = fma(the block's integer sums, f32(d_w · d_x), out[0..8)), rows 0-3 (s0) and 4-7 (s1). */
@inline
function accumulateTo(out: usize, s0: v128, s1: v128, w0: v128, w1: v128, dx: v128): void {
  v128.store(out, fmaF32x4(f32x4.convert_i32x4_s(s0), scalesTimes(w0, dx), v128.load(out)));
  v128.store(out, fmaF32x4(f32x4.convert_i32x4_s(s1), scalesTimes(w1, dx), v128.load(out, 16)), 16);
}
