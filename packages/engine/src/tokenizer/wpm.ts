// WordPiece (BERT) tokenization as llama.cpp does it (llm_tokenizer_wpm_session): normalise (NFD, lowercase,
// drop accents and control characters), split on whitespace, punctuation and CJK ideographs, then take the
// longest vocabulary match from each position of "▁word" (llama.cpp's converter turns "##x" into "x" and
// word-initial "x" into "▁x"); a word with any unmatched position becomes [UNK].
import type { Vocab } from "./vocab.js";

// llama.cpp's whitespace table differs from JavaScript's \s in two code points.
const isWhitespace = (c: string) => (c === "\u0085" || /\s/u.test(c)) && c !== "\uFEFF";
const CONTROL = /[\p{Cc}\p{Cf}\p{Co}\p{Cs}]/u;
const ACCENT = /\p{M}/u;
const PUNCTUATION = /\p{P}/u;
const SYMBOL = /\p{S}/u;

function isChineseChar(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) ||
    (cp >= 0x2b920 && cp <= 0x2ceaf) || // 0x2B920, not 0x2B820: as Hugging Face's Rust code has it
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

/** Lowercases one code point to one code point, as llama.cpp's unicode_tolower (never a two-character result). */
function lowerOne(c: string): string {
  const lower = c.toLowerCase();
  return [...lower].length === 1 ? lower : c;
}

export function wpmWords(text: string, lowercase: boolean, stripAccents: boolean): string[] {
  const words: string[] = [""];
  for (const c of stripAccents ? text.normalize("NFD") : text) {
    const cp = c.codePointAt(0)!;
    if (isWhitespace(c)) {
      if (words[words.length - 1]) words.push("");
      continue;
    }
    if (cp === 0 || cp === 0xfffd || CONTROL.test(c)) continue;
    if (stripAccents && ACCENT.test(c)) continue;
    const s = lowercase ? lowerOne(c) : c;
    if (PUNCTUATION.test(c) || (cp < 0x7f && SYMBOL.test(c)) || isChineseChar(cp)) {
      if (words[words.length - 1]) words.push("");
      words[words.length - 1] = s;
      words.push("");
    } else {
      words[words.length - 1] += s;
    }
  }
  if (!words[words.length - 1]) words.pop();
  return words;
}

export function wpmTokenize(vocab: Vocab, text: string, out: number[]): void {
  for (const word of wpmWords(text, vocab.lowercase, vocab.lowercase)) {
    const w = `\u2581${word}`;
    const start = out.length;
    for (let i = 0; i < w.length; ) {
      let matched = 0;
      for (let j = Math.min(w.length, i + vocab.maxTokenLength); j > i; j--) {
        const id = vocab.tokenToId.get(w.slice(i, j));
        if (id !== undefined) {
          out.push(id);
          matched = j - i;
          break;
        }
      }
      if (!matched) {
        out.length = start;
        break;
      }
      i += matched;
    }
    if (out.length === start) out.push(vocab.unk);
  }
}
