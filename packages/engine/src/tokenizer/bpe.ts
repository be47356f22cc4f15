// Byte-level BPE as llama.cpp does it (llm_tokenizer_bpe_session): pre-tokenize into words, map each word's
// UTF-8 bytes to GPT-2's printable characters, then merge adjacent pairs by lowest merge rank (leftmost on ties).
import { PriorityQueue } from "./priorityQueue.js";
import { preTokenize } from "./pretokenizers.js";
import type { Vocab } from "./vocab.js";

/** GPT-2's bytes_to_unicode: printable Latin-1 bytes map to themselves, the rest to U+0100 onwards. */
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const table: string[] = [];
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    table[b] = String.fromCharCode(printable ? b : 256 + extra++);
  }
  return table;
})();

export const CHAR_TO_BYTE: ReadonlyMap<string, number> = new Map(BYTE_TO_CHAR.map((c, b) => [c, b]));

const utf8 = new TextEncoder();

export function byteEncode(word: string): string {
  let out = "";
  for (const b of utf8.encode(word)) out += BYTE_TO_CHAR[b];
  return out;
}

interface Bigram {
  left: number;
  right: number;
  rank: number;
  text: string;
}

function mergeWord(vocab: Vocab, word: string): string[] {
  if (vocab.pre.ignoreMerges && vocab.tokenToId.has(word)) return [word];
  // Every character of a byte-encoded word is one UTF-16 unit, so symbols are [start, length) of word.
  const n = word.length;
  const length = new Array<number>(n).fill(1);
  const prev = Array.from({ length: n }, (_, i) => i - 1);
  const next = Array.from({ length: n }, (_, i) => (i + 1 < n ? i + 1 : -1));
  const text = (i: number) => word.slice(i, i + length[i]);

  const queue = new PriorityQueue<Bigram>((a, b) => a.rank < b.rank || (a.rank === b.rank && a.left < b.left));
  const addBigram = (left: number, right: number) => {
    if (left === -1 || right === -1) return;
    const l = text(left);
    const r = text(right);
    const rank = vocab.mergeRanks.get(`${l} ${r}`);
    if (rank !== undefined) queue.push({ left, right, rank, text: l + r });
  };
  for (let i = 1; i < n; i++) addBigram(i - 1, i);
  while (queue.size > 0) {
    const { left, right, text: merged } = queue.pop()!;
    if (length[left] === 0 || length[right] === 0 || text(left) + text(right) !== merged) continue;
    length[left] += length[right];
    length[right] = 0;
    next[left] = next[right];
    if (next[right] >= 0) prev[next[right]] = left;
    addBigram(prev[left], left);
    addBigram(left, next[left]);
  }
  const symbols: string[] = [];
  for (let i = n > 0 ? 0 : -1; i !== -1; i = next[i]) symbols.push(text(i));
  return symbols;
}

/** Appends the ids of text to out. */
export function bpeTokenize(vocab: Vocab, text: string, out: number[]): void {
  for (const word of preTokenize(text, vocab.pre.regexes)) {
    for (const symbol of mergeWord(vocab, byteEncode(word))) {
      const id = vocab.tokenToId.get(symbol);
      if (id !== undefined) {
        out.push(id);
        continue;
      }
      // Not a token: fall back to single byte tokens, silently dropping bytes the vocabulary lacks (as llama.cpp).
      for (const ch of symbol) {
        const byteId = vocab.tokenToId.get(ch);
        if (byteId !== undefined) out.push(byteId);
      }
    }
  }
}
