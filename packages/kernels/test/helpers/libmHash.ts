// What the libm comparison tests (sinF32/cosF32, expF32 against glibc) share: float bits, the FNV-1a hash of
// results over a seeded input stream, and that stream's generator. The C programs that computed the expected
// hashes used the same generator and hash.

const f = new Float32Array(1);
const u = new Uint32Array(f.buffer);

/** The bits of x rounded to float. */
export const bitsOf = (x: number) => ((f[0] = x), u[0]);
/** The float whose bits are `bits`. */
export const floatOf = (bits: number) => ((u[0] = bits), f[0]);

/** Adds a float's bits to an FNV-1a hash; NaN payloads differ between libms and mean nothing, so one NaN. */
export function hashFloat(h: number, x: number): number {
  const bits = bitsOf(x);
  const canonical = (bits & 0x7f800000) === 0x7f800000 && (bits & 0x7fffff) ? 0x7fc00000 : bits;
  for (let b = 0; b < 4; b++) h = Math.imul(h ^ ((canonical >>> (8 * b)) & 0xff), 0x01000193) >>> 0;
  return h;
}

/** The FNV-1a offset basis, where a hash starts. */
export const HASH_START = 0x811c9dc5;

/** The tests' 32-bit pseudo-random stream (seeded as the C programs were). */
export function seededStream(seed = 0x9e3779b9): () => number {
  return () => (seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0);
}
