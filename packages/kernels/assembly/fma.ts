// Fused multiply-add in float32, as x86's vfmadd rounds it: llama.cpp's CPU kernels are full of them, and an
// unfused a·b + c rounds twice, which is enough to flip a later Q8_0 rounding. WebAssembly has no
// deterministic FMA: the relaxed build uses relaxed_madd where the kernel probe finds it fused; the plain
// build forms the product exactly in double (24 + 24 bits fit in 53) and rounds the sum to double, then to
// float. That double rounding differs from one fused rounding only when the double sum lands exactly halfway
// between two floats: with full-precision operands, once in about 2^29 operations.

/**
 * A scalar fused multiply-add rounded once, exactly: the double sum s and its error e (TwoSum) decide the
 * rare case where s falls halfway between two floats. Scalar callers (RoPE, dot tails) can afford it.
 */
export function fmaF32(a: f32, b: f32, c: f32): f32 {
  const p = <f64>a * <f64>b;
  const s = p + <f64>c;
  const r = <f32>s;
  if (<f64>r == s || !isFinite(s)) return r;
  const bb = s - p;
  const e = (p - (s - bb)) + (<f64>c - bb);
  if (e == 0) return r;
  // The float on the other side of s from r.
  const other: f32 = r == 0 ? copysign<f32>(reinterpret<f32>(1), <f32>s) : reinterpret<f32>(reinterpret<i32>(r) + ((<f64>r < s) == (r > 0) ? 1 : -1));
  if ((<f64>r + <f64>other) * 0.5 != s) return r;
  return (e > 0) == (other > r) ? other : r;
}

/**
 * Lane-wise fmaF32 on f32x4: a · b + c. The relaxed build uses relaxed_madd, which V8 lowers to one vfmadd
 * where the CPU has FMA and to a multiply and an add where it does not; the kernel choice probes that it
 * agrees with this plain emulation bit for bit (wasmKernels.ts), so an unfused machine gets the simd128 build.
 */
@inline
export function fmaF32x4(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  const lo = f64x2.add(f64x2.mul(f64x2.promote_low_f32x4(a), f64x2.promote_low_f32x4(b)), f64x2.promote_low_f32x4(c));
  const a2 = i32x4.shuffle(a, a, 2, 3, 0, 1);
  const b2 = i32x4.shuffle(b, b, 2, 3, 0, 1);
  const c2 = i32x4.shuffle(c, c, 2, 3, 0, 1);
  const hi = f64x2.add(f64x2.mul(f64x2.promote_low_f32x4(a2), f64x2.promote_low_f32x4(b2)), f64x2.promote_low_f32x4(c2));
  return i32x4.shuffle(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 1, 4, 5);
}

/**
 * The sum of 16 float lanes (four f32x4, lanes 0-15) in the order GCC's _mm512_reduce_add_ps adds them:
 * halves (i + 8), quarters (i + 4), then (0 + 2) + (1 + 3). ggml reduces every AVX-512 accumulator this way.
 */
@inline
export function reduceAdd16(l0: v128, l1: v128, l2: v128, l3: v128): f32 {
  const q = f32x4.add(f32x4.add(l0, l2), f32x4.add(l1, l3));
  return (f32x4.extract_lane(q, 0) + f32x4.extract_lane(q, 2)) + (f32x4.extract_lane(q, 1) + f32x4.extract_lane(q, 3));
}
