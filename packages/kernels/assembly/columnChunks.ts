// Long rows in column chunks, stored chunk-major: a matrix of R units (rows, or groups of rows) whose rows are
// cut into C chunks of `per` blocks holds chunk k of unit u at (k·R + u)·per·(unit's bytes per block). Decode
// then streams the weights in order while only one chunk of the activation (at most CHUNK_BLOCKS · 292 bytes of
// Q8_K) is live, and that stays in L1. With whole rows of 14336 columns (16 KB of Q8_K) the weights flowing
// past pushed the activation out, and a Q4_K matvec from DRAM took 11.9 ns per row-block against 9.2
// chunk-major (one thread, AMD EPYC Zen 5). Rows of up to 24 blocks (6144 columns) are one chunk: the file's
// order. The kernels that read such a matrix continue each row's float accumulators from chunk to chunk, so
// the sums are those of whole rows, bit for bit.

/** Blocks in a chunk at most. */
export const CHUNK_BLOCKS = 24;

/** The fewest chunks that cut nb blocks into equal pieces of at most CHUNK_BLOCKS. */
@inline
export function chunksOf(nb: i32): i32 {
  let c = (nb + CHUNK_BLOCKS - 1) / CHUNK_BLOCKS;
  while (nb % c != 0) c++;
  return c;
}

/**
 * Rewrites units × chunks pieces of pieceBytes from unit-major to chunk-major in place: an in-place transpose,
 * following each permutation cycle from its smallest index with one piece in scratch.
 */
export function chunkMajor(w: usize, units: i32, chunks: i32, pieceBytes: usize, scratch: usize): void {
  const n = units * chunks;
  // The piece at chunk-major index p comes from unit-major index (p % units)·chunks + p / units.
  for (let i = 1; i < n - 1; i++) {
    let s = (i % units) * chunks + i / units, leader = true;
    while (s != i) {
      if (s < i) { leader = false; break; }
      s = (s % units) * chunks + s / units;
    }
    if (!leader) continue;
    memory.copy(scratch, w + <usize>i * pieceBytes, pieceBytes);
    let cur = i;
    for (;;) {
      const src = (cur % units) * chunks + cur / units;
      if (src == i) break;
      memory.copy(w + <usize>cur * pieceBytes, w + <usize>src * pieceBytes, pieceBytes);
      cur = src;
    }
    memory.copy(w + <usize>cur * pieceBytes, scratch, pieceBytes);
  }
}
