// A float32 fused multiply-add, as C's fmaf: one rounding. ggml's kernels use FMAs, and GCC contracts
// `a * b + c` into one in ggml's C++ too (-ffp-contract=fast is its default outside ISO C), e.g. in
// rope_yarn (ops.cpp) and llama.cpp's YaRN factors (llama-context.cpp), so matching them needs it.

const f32Bits = new Float32Array(1);
const i32Bits = new Int32Array(f32Bits.buffer);

/** The float32 next to r on the side of x (r a float32, x ≠ r). */
function neighbour(r: number, x: number): number {
  f32Bits[0] = r;
  i32Bits[0] += (x > r) === (r >= 0) ? 1 : -1;
  return r === 0 ? Math.sign(x) * 2 ** -149 : f32Bits[0];
}

/**
 * fmaf(a, b, c) for float32 a, b, c: a·b is exact in double; a·b + c is split into its double sum s and the
 * exact error e (TwoSum); rounding s to float is right except when s falls exactly halfway between two floats
 * and e ≠ 0, where e decides the side.
 */
export function fmaF32(a: number, b: number, c: number): number {
  const p = a * b;
  const s = p + c;
  const bb = s - p;
  const e = (p - (s - bb)) + (c - bb);
  const r = Math.fround(s);
  if (e === 0 || r === s || !Number.isFinite(s)) return r;
  const other = neighbour(r, s);
  if ((r + other) / 2 !== s) return r;
  return (e > 0) === (other > r) ? other : r;
}
