// ggml's vector exponential (ggml_v_expf, AVX-512 variant, in ggml-cpu/vec.h), lane for lane: llama.cpp's
// softmax and SiLU use it for every full vector of 16 floats. It is not libm's expf (up to ~1.5 ulp apart), so
// matching llama.cpp's attention weights and SwiGLU outputs bit for bit means computing the same polynomial
// with the same fused roundings: x = n·ln2 + b, n = round(x·log2 e), exp(b) by a degree-5 polynomial, scaled
// by 2^n (vscalefps, exact here in double).
import { fmaF32x4 } from "./fma";

// The constants, bit for bit as ggml spells them in hex floats.
const SHIFTER: f32 = reinterpret<f32>(0x4b400000); // 0x1.8p23: adding it rounds to an integer
const LOG2E: f32 = reinterpret<f32>(0x3fb8aa3b); // 0x1.715476p+0
const LN2_HI: f32 = reinterpret<f32>(0x3f317200); // 0x1.62e4p-1
const LN2_LO: f32 = reinterpret<f32>(0x35bfbe8e); // 0x1.7f7d1cp-20
const C5: f32 = reinterpret<f32>(0x3c072010); // 0x1.0e4020p-7
const C4: f32 = reinterpret<f32>(0x3d2b9f17); // 0x1.573e2ep-5
const C3: f32 = reinterpret<f32>(0x3e2aaf33); // 0x1.555e66p-3
const C2: f32 = reinterpret<f32>(0x3efffedb); // 0x1.fffdb6p-2
const C1: f32 = reinterpret<f32>(0x3f7ffff6); // 0x1.ffffecp-1

/** j · 2^n for two lanes (n integral, |n| ≤ 192): exact in double, then one rounding to float. */
@inline
function scaleByPow2(j: v128, n: v128): v128 {
  const bits = i64x2.shl(i64x2.add(i64x2.extend_low_i32x4_s(i32x4.trunc_sat_f32x4_s(n)), i64x2.splat(1023)), 52);
  return f32x4.demote_f64x2_zero(f64x2.mul(f64x2.promote_low_f32x4(j), bits));
}

/** e^x for four lanes, as ggml_v_expf computes it (underflow to 0, overflow to +∞ when |n| > 192). */
@inline
export function expF32x4(x: v128): v128 {
  const r = f32x4.splat(SHIFTER);
  const z = fmaF32x4(x, f32x4.splat(LOG2E), r);
  const n = f32x4.sub(z, r);
  const negN = f32x4.neg(n);
  const b = fmaF32x4(negN, f32x4.splat(LN2_LO), fmaF32x4(negN, f32x4.splat(LN2_HI), x));
  const u = f32x4.mul(b, b);
  const j = fmaF32x4(
    fmaF32x4(fmaF32x4(f32x4.splat(C5), b, f32x4.splat(C4)), u, fmaF32x4(f32x4.splat(C3), b, f32x4.splat(C2))),
    u,
    fmaF32x4(f32x4.splat(C1), b, f32x4.splat(1)),
  );
  const big = f32x4.gt(f32x4.abs(n), f32x4.splat(192));
  const clamped = v128.bitselect(f32x4.splat(0), n, big);
  const lo = scaleByPow2(j, clamped);
  const hi = scaleByPow2(i32x4.shuffle(j, j, 2, 3, 0, 1), i32x4.shuffle(clamped, clamped, 2, 3, 0, 1));
  const res = i32x4.shuffle(lo, hi, 0, 1, 4, 5);
  const overflow = v128.bitselect(f32x4.splat(0), f32x4.splat(Infinity), f32x4.le(n, f32x4.splat(0)));
  return v128.bitselect(overflow, res, big);
}

/** x / (1 + e^-x) for four lanes, as ggml_v_silu. */
@inline
export function siluF32x4(x: v128): v128 {
  return f32x4.div(x, f32x4.add(f32x4.splat(1), expF32x4(f32x4.sub(f32x4.splat(0), x))));
}
