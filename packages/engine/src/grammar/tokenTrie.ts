// The vocabulary's tokens sorted by their bytes, with each one's common prefix with the one before: walking them
// in order is a depth-first walk of the token trie, so a grammar's whole mask costs one step per trie node, and a
// prefix the grammar refuses skips every token below it. Built once per tokenizer.
import type { Tokenizer } from "../tokenizer/tokenizer.js";

export interface TokenTrie {
  /** Token ids in byte order (tokens that print text; control and empty tokens are not in it). */
  readonly order: Int32Array;
  /** lcp[i]: bytes token order[i] shares with order[i - 1] (0 for the first). */
  readonly lcp: Int32Array;
  readonly pieces: readonly Uint8Array[];
}

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
  return { order: Int32Array.from(ids), lcp, pieces };
}
