// Float e^x as glibc computes expf (sysdeps/ieee754/flt-32/e_expf.c, the Arm optimized-routines algorithm,
// glibc ≥ 2.27). ggml calls expf where its vector exp does not reach: the elements of a softmax row past its
// last whole group of 16 (ggml_vec_soft_max_f32), e.g. all of a DeepSeek router's row of 8 experts. The
// algorithm, in double precision: x·32/ln2 = k + r, 2^(k/32) from a 32-entry table scaled by the exponent
// bits of k/32, 2^(r/32) by a cubic, rounded to float once. Also ggml's own vector e^x, one lane
// (expGgmlLane), for the whole groups of 16.
import { fmaF32 } from "./fmaF32.js";

const fround = Math.fround;
const N = 32;
const INV_LN2_N = 46.16624130844683; // 0x1.71547652b82fep+0 · 32
const SHIFT = 6755399441055744; // 0x1.8p+52: adding it rounds to an integer, ties to even
/** The cubic for 2^(r/32) - 1 on |r| ≤ 1/2 (e_expf.c's poly_scaled). */
const C0 = 0.05550361559341535 / N / N / N; // 0x1.c6af84b912394p-5
const C1 = 0.2402284522445722 / N / N; // 0x1.ebfce50fac4f3p-3
const C2 = 0.6931471806916203 / N; // 0x1.62e42ff0c52d6p-1

/**
 * 2^(i/32) for i < 32. glibc keeps their bits less i << 47 (exp2f_data.tab), so that adding k << 47 multiplies
 * by 2^((k - i)/32): the same exact product as POW2[i] · 2^((k - i)/32) here.
 */
const POW2 = Array.from({ length: N }, (_, i) => 2 ** (i / N));

/** expf(x) for a float32 x. */
export function expF32(x: number): number {
  if (Number.isNaN(x)) return x;
  if (x > 88.72283172607422) return Infinity; // 0x1.62e42ep6f: overflows
  if (x < -103.97207641601562) return 0; // 0x1.9fe368p6f: underflows to 0
  // glibc's x86-64 build runs e_expf-fma.c on CPUs with FMA, where GCC contracts these steps; the result
  // rounded to float is the same with or without (checked on 2 million inputs).
  const z = INV_LN2_N * x;
  const k = z + SHIFT - SHIFT; // z rounded to an integer, ties to even
  const r = z - k;
  const i = k & (N - 1);
  const s = POW2[i] * 2 ** ((k - i) / N);
  const zz = C0 * r + C1;
  const r2 = r * r;
  const y = C2 * r + 1;
  return fround((zz * r2 + y) * s);
}

const bitsF32 = new Uint32Array(1);
const asF32 = new Float32Array(bitsF32.buffer);
const f = (bits: number) => ((bitsF32[0] = bits), asF32[0]);
const [ROUND, LOG2E, LN2_LO, LN2_HI] = [f(0x4b400000), f(0x3fb8aa3b), f(0x35bfbe8e), f(0x3f317200)];
const P = [f(0x3c072010), f(0x3d2b9f17), f(0x3e2aaf33), f(0x3efffedb), f(0x3f7ffff6)];

/**
 * ggml_v_expf (ggml-cpu vec.h, AVX-512), one lane: ggml's vector e^x, for the softmax's whole groups of 16:
 * n = round(x·log2 e), b = x − n·ln2 in two parts, a degree-5 polynomial by FMAs, times 2^n.
 */
export function expGgmlLane(x: number): number {
  const n = fround(fmaF32(x, LOG2E, ROUND) - ROUND);
  const b = fmaF32(-n, LN2_LO, fmaF32(-n, LN2_HI, x));
  const u = fround(b * b);
  const j = fmaF32(fmaF32(fmaF32(P[0], b, P[1]), u, fmaF32(P[2], b, P[3])), u, fmaF32(P[4], b, 1));
  if (Math.abs(n) > 192) return n <= 0 ? 0 : Infinity;
  return fround(j * 2 ** n);
}
