// SentencePiece-style tokenization as llama.cpp does it (llm_tokenizer_spm_session): start from single
// characters, repeatedly merge the adjacent pair whose concatenation is the highest-scoring token (leftmost
// on ties), then split whatever is not a token back along its merges, down to <0xXX> byte tokens.
import { PriorityQueue } from "./priorityQueue.js";
import type { Vocab } from "./vocab.js";

interface Bigram {
  left: number;
  right: number;
  score: number;
  size: number;
}

const utf8 = new TextEncoder();

/** Appends the ids of text (already space-escaped with ▁) to out. */
export function spmTokenize(vocab: Vocab, text: string, out: number[]): void {
  // Symbols are code points, held as [start, length) in UTF-16 units of text, linked as a list.
  const start: number[] = [];
  const length: number[] = [];
  for (let i = 0; i < text.length; ) {
    const n = text.codePointAt(i)! > 0xffff ? 2 : 1;
    start.push(i);
    length.push(n);
    i += n;
  }
  const count = start.length;
  const prev = Array.from({ length: count }, (_, i) => i - 1);
  const next = Array.from({ length: count }, (_, i) => (i + 1 < count ? i + 1 : -1));

  const queue = new PriorityQueue<Bigram>((a, b) => a.score > b.score || (a.score === b.score && a.left < b.left));
  const revMerge = new Map<string, [number, number]>();
  const tryAddBigram = (left: number, right: number) => {
    if (left === -1 || right === -1) return;
    const piece = text.slice(start[left], start[left] + length[left] + length[right]);
    const id = vocab.tokenToId.get(piece);
    if (id === undefined) return;
    queue.push({ left, right, score: vocab.scores[id], size: piece.length });
    revMerge.set(piece, [left, right]);
  };

  for (let i = 1; i < count; i++) tryAddBigram(i - 1, i);
  while (queue.size > 0) {
    const bigram = queue.pop()!;
    const { left, right } = bigram;
    if (length[left] === 0 || length[right] === 0 || length[left] + length[right] !== bigram.size) continue;
    length[left] += length[right];
    length[right] = 0;
    next[left] = next[right];
    if (next[right] >= 0) prev[next[right]] = left;
    tryAddBigram(prev[left], left);
    tryAddBigram(left, next[left]);
  }

  const resegment = (symbol: number) => {
    const piece = text.slice(start[symbol], start[symbol] + length[symbol]);
    const id = vocab.tokenToId.get(piece);
    if (id !== undefined) {
      out.push(id);
      return;
    }
    const merge = revMerge.get(piece);
    if (merge) {
      resegment(merge[0]);
      resegment(merge[1]);
      return;
    }
    for (const byte of utf8.encode(piece)) out.push(byteToken(vocab, byte));
  };
  for (let i = count > 0 ? 0 : -1; i !== -1; i = next[i]) resegment(i);
}

/** The <0xXX> token of a byte (llama_vocab::byte_to_token), else the byte as a one-character token, else unk. */
export function byteToken(vocab: Vocab, byte: number): number {
  const hex = `<0x${byte.toString(16).toUpperCase().padStart(2, "0")}>`;
  return vocab.tokenToId.get(hex) ?? vocab.tokenToId.get(String.fromCharCode(byte)) ?? vocab.unk;
}
