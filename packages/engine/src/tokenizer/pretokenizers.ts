// Byte-level BPE pre-tokenizers, keyed by GGUF `tokenizer.ggml.pre`, after llama.cpp's src/llama-vocab.cpp
// (llm_tokenizer_bpe and the `tokenizer_pre` chain in llama_vocab::impl::load). Each regex splits every
// piece the previous one produced; matches and the gaps between them both become pieces.
// The patterns are the Hugging Face tokenizer.json ones as llama.cpp adapted them (case-insensitive
// contractions spelled out), run as JavaScript Unicode regexes.

export interface PreTokenizer {
  readonly regexes: readonly string[];
  /** Whole words found in the vocabulary skip the merges (Llama 3's tiktoken-style vocabularies). */
  readonly ignoreMerges?: boolean;
  /** llama_detokenize's clean-up of " ," " ." " 's" etc.; llama.cpp defaults it on for BPE. */
  readonly cleanSpaces?: boolean;
  /** BOS when the file has no tokenizer.ggml.add_bos_token (llama.cpp's default is off for BPE). */
  readonly addBos?: boolean;
}

const GPT2 = String.raw`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)`;
const CONTRACTIONS = String.raw`(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])`;
const LLAMA3 = String.raw`${CONTRACTIONS}|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;
const QWEN2 = String.raw`${CONTRACTIONS}|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;

const DEFAULT: PreTokenizer = {
  regexes: [String.raw`[\p{P}\$\+<=>\^~\|]+`, GPT2, String.raw`\p{N}+`, "[0-9][0-9][0-9]"],
};
const LLAMA3_PRE: PreTokenizer = { regexes: [LLAMA3], ignoreMerges: true, addBos: true };
const GPT2_PRE: PreTokenizer = { regexes: [GPT2] };
const STARCODER: PreTokenizer = { regexes: [String.raw`\p{N}`, GPT2] };
const QWEN2_PRE: PreTokenizer = { regexes: [QWEN2], cleanSpaces: false };

const DEEPSEEK_LLM: PreTokenizer = {
  cleanSpaces: false,
  // Code points written as escapes: these ranges must survive editors that normalise Unicode.
  regexes: [
    String.raw`[\u{d}\u{a}]`,
    String.raw`\s?[A-Za-z\u{b5}\u{c0}-\u{d6}\u{d8}-\u{f6}\u{f8}-\u{1ba}\u{1bc}-\u{1bf}\u{1c4}-\u{293}\u{295}-\u{2af}\u{370}-\u{373}\u{376}\u{377}\u{37b}-\u{37d}\u{37f}\u{386}\u{388}-\u{38a}\u{38c}\u{38e}-\u{3a1}\u{3a3}-\u{3f5}\u{3f7}-\u{481}\u{48a}-\u{52f}\u{531}-\u{556}\u{10a0}-\u{10c5}\u{13a0}-\u{13f5}\u{13f8}-\u{13fd}\u{1c90}-\u{1cba}\u{1cbd}-\u{1cbf}\u{1d00}-\u{1d2b}\u{1d6b}-\u{1d77}\u{1d79}-\u{1d9a}\u{1e00}-\u{1f15}\u{1f18}-\u{1f1d}\u{1f20}-\u{1f45}\u{1f48}-\u{1f4d}\u{1f50}-\u{1f57}\u{1f59}\u{1f5b}\u{1f5d}\u{1f5f}-\u{1f7d}\u{1f80}-\u{1fb4}\u{1fb6}-\u{1fbc}\u{1fbe}\u{1fc2}-\u{1fc4}\u{1fc6}-\u{1fcc}\u{1fd0}-\u{1fd3}\u{1fd6}-\u{1fdb}\u{1fe0}-\u{1fec}\u{1ff2}-\u{1ff4}\u{1ff6}-\u{1ffc}\u{2102}\u{2107}\u{210a}-\u{2113}\u{2115}\u{2119}-\u{211d}\u{2124}\u{2126}\u{2128}\u{212a}-\u{212d}\u{212f}-\u{2134}\u{2139}\u{213c}-\u{213f}\u{2145}-\u{2149}\u{214e}\u{2183}\u{2184}\u{2c00}-\u{2c7b}\u{2c7e}-\u{2ce4}\u{2ceb}-\u{2cee}\u{2cf2}\u{2cf3}\u{a640}-\u{a66d}\u{a680}-\u{a69b}\u{a722}-\u{a76f}\u{a771}-\u{a787}\u{a78b}-\u{a78e}\u{ab70}-\u{abbf}\u{fb00}-\u{fb06}\u{fb13}-\u{fb17}\u{ff21}-\u{ff3a}\u{ff41}-\u{ff5a}\u{10400}-\u{1044f}\u{104b0}-\u{104d3}\u{104d8}-\u{104fb}\u{10c80}-\u{10cb2}\u{10cc0}-\u{10cf2}\u{118a0}-\u{118df}\u{1e900}-\u{1e943}]+`,
    String.raw`\s?[!-/:-~\u{ff01}-\u{ff0f}\u{ff1a}-\u{ff5e}\u{2018}-\u{201f}\u{3000}-\u{3002}]+`,
    String.raw`\s+$`,
    String.raw`[\u{4e00}-\u{9fa5}\u{800}-\u{4e00}\u{ac00}-\u{d7ff}]+`,
    String.raw`\p{N}+`,
  ],
};

/** `tokenizer.ggml.pre` value → pre-tokenizer. Spelled as the GGUF files spell them, so grep finds them. */
export const PRE_TOKENIZERS: Readonly<Record<string, PreTokenizer>> = {
  default: DEFAULT,
  "llama-bpe": LLAMA3_PRE,
  llama3: LLAMA3_PRE,
  "llama-v3": LLAMA3_PRE,
  falcon3: LLAMA3_PRE,
  dbrx: { regexes: [LLAMA3] },
  "smaug-bpe": { regexes: [LLAMA3] },
  "deepseek-llm": DEEPSEEK_LLM,
  "deepseek-coder": {
    cleanSpaces: false,
    regexes: ["[\r\n]", String.raw`\s?\p{L}+`, String.raw`\s?\p{P}+`, String.raw`[\u{4e00}-\u{9fa5}\u{800}-\u{4e00}\u{ac00}-\u{d7ff}]+`, String.raw`\p{N}`],
  },
  "deepseek-v3": {
    cleanSpaces: false,
    regexes: [
      String.raw`\p{N}{1,3}`,
      String.raw`[\u{4e00}-\u{9fa5}\u{3040}-\u{309f}\u{30a0}-\u{30ff}]+`,
      // As upstream, except that llama.cpp's collapsed categories count ASCII '~' as neither \p{P} nor \p{S}.
      String.raw`[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_${"`"}{|}~][A-Za-z]+|(?:~|[^\r\n\p{L}\p{P}\p{S}])?[\p{L}\p{M}]+| ?(?:(?!~)[\p{P}\p{S}])+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
    ],
  },
  falcon: {
    regexes: [String.raw`[\p{P}\$\+<=>\^~\|${"`"}]+`, GPT2, "[0-9][0-9][0-9]"],
  },
  mpt: GPT2_PRE,
  olmo: GPT2_PRE,
  "gpt-2": GPT2_PRE,
  "phi-2": GPT2_PRE,
  starcoder: STARCODER,
  refact: STARCODER,
  smollm: STARCODER,
  codeshell: STARCODER,
  "command-r": { ...STARCODER, cleanSpaces: false },
  qwen2: QWEN2_PRE,
  "deepseek-r1-qwen": QWEN2_PRE,
  stablelm2: { regexes: [QWEN2] },
  chatglm4: { regexes: [LLAMA3] },
};

/** Compiled once per pattern: global + Unicode, as llama.cpp's std::regex_iterator walks a piece. */
const compiled = new Map<string, RegExp>();
function compile(pattern: string): RegExp {
  let re = compiled.get(pattern);
  if (!re) {
    re = new RegExp(pattern, "gu");
    compiled.set(pattern, re);
  }
  return re;
}

// llama.cpp matches against a copy of the text in which every non-ASCII whitespace code point (its own table,
// with U+0085 and without U+FEFF) became U+000B, so `\s` means exactly that set and a literal U+3000 in a
// pattern never matches. JavaScript's `\s` differs only in U+0085 and U+FEFF. Matching against a view with
// the same substitutions (U+FEFF, a format character, becomes U+200B, another one) reproduces llama.cpp;
// every substitution keeps UTF-16 lengths, so matches slice the original text at the same indices.
const LLAMA_NON_ASCII_WHITESPACE = /[\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/g;
function llamaView(text: string): string {
  return text.replace(LLAMA_NON_ASCII_WHITESPACE, "\v").replaceAll("\ufeff", "\u200b");
}

/** Splits text into pre-tokenized words. */
export function preTokenize(text: string, regexes: readonly string[]): string[] {
  const view = llamaView(text);
  // Pieces as [start, end) ranges of text; each regex splits every piece into matches and the gaps between.
  let pieces = [0, text.length];
  for (const pattern of regexes) {
    const re = compile(pattern);
    const next: number[] = [];
    for (let p = 0; p < pieces.length; p += 2) {
      const start = pieces[p];
      const end = pieces[p + 1];
      // Lookaheads and `$` must see the end of the piece, not of the text, as with llama.cpp's iterator range.
      const piece = view.slice(start, end);
      let last = 0;
      re.lastIndex = 0;
      for (let m = re.exec(piece); m !== null; m = re.exec(piece)) {
        if (m[0].length === 0) {
          re.lastIndex++;
          continue;
        }
        if (m.index > last) next.push(start + last, start + m.index);
        next.push(start + m.index, start + m.index + m[0].length);
        last = m.index + m[0].length;
      }
      if (last < piece.length) next.push(start + last, end);
    }
    pieces = next;
  }
  const words: string[] = [];
  for (let p = 0; p < pieces.length; p += 2) words.push(text.slice(pieces[p], pieces[p + 1]));
  return words;
}
