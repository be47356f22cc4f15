// The vocabulary's tokens sorted by their bytes, with each one's common prefix with the one before: walking them
// in order is a depth-first walk of the token trie, so a grammar's whole mask costs one step per trie node, and a
// prefix the grammar refuses skips every token below it. Built once per tokenizer.
import type { Tokenizer } from "../tokenizer/tokenizer.js";

export interface TokenTrie {
  /** Token ids in byte order (tokens that print text; control and empty tokens are not in it). */
  readonly order: Int32Array;
  /** lcp[i]: bytes token order[i] shares with order[i - 1] (0 for the first). */
  readonly lcp: Int32Array;
  /** The longest token's bytes. */
  readonly maxBytes: number;
  /** The pieces of `order`, back to back (token order[i] is bytes[starts[i], starts[i + 1])): one run to stream. */
  readonly bytes: Uint8Array;
  readonly starts: Int32Array;
  /**
   * skip[d][i]: the first index after i whose token shares at most d bytes with the ones before (the end of the
   * subtree below token i's first d + 1 bytes), for d < SKIP_DEPTHS: a prefix refused that shallow (most are, in
   * a JSON structure) skips its subtree in one step instead of one per token.
   */
  readonly skip: readonly Int32Array[];
}

export const SKIP_DEPTHS = 4;

const tries = new WeakMap<Tokenizer, TokenTrie>();

export function tokenTrie(tokenizer: Tokenizer): TokenTrie {
  let trie = tries.get(tokenizer);
  if (!trie) {
    trie = buildTrie(tokenizer);
    tries.set(tokenizer, trie);
  }
  return trie;
}

function buildTrie(tokenizer: Tokenizer): TokenTrie {
  const pieces: Uint8Array[] = [];
  const ids: number[] = [];
  for (let id = 0; id < tokenizer.size; id++) {
    const piece = tokenizer.tokenToPiece(id);
    pieces.push(piece);
    if (piece.length > 0 && !tokenizer.isEog(id)) ids.push(id);
  }
  const compare = (a: Uint8Array, b: Uint8Array) => {
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
    return a.length - b.length;
  };
  ids.sort((x, y) => compare(pieces[x], pieces[y]) || x - y);
  const lcp = new Int32Array(ids.length);
  for (let i = 1; i < ids.length; i++) {
    const a = pieces[ids[i - 1]], b = pieces[ids[i]];
    let n = 0;
    while (n < a.length && n < b.length && a[n] === b[n]) n++;
    lcp[i] = n;
  }
  const n = ids.length;
  const skip = Array.from({ length: SKIP_DEPTHS }, (_, d) => {
    const next = new Int32Array(n);
    let after = n;
    for (let i = n - 1; i >= 0; i--) {
      next[i] = after;
      if (lcp[i] <= d) after = i;
    }
    return next;
  });
  const maxBytes = ids.reduce((m, id) => Math.max(m, pieces[id].length), 0);
  const starts = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) starts[i + 1] = starts[i] + pieces[ids[i]].length;
  const bytes = new Uint8Array(starts[n]);
  for (let i = 0; i < n; i++) bytes.set(pieces[ids[i]], starts[i]);
  return { order: Int32Array.from(ids), lcp, skip, maxBytes, bytes, starts };
}
