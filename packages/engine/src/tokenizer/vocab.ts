// The vocabulary as llama.cpp builds it from GGUF metadata (llama_vocab::impl::load): token texts,
// scores, attributes, special ids and flags. Tokenizer code reads this; nothing here tokenizes.
import { metaArray, metaBool, metaNumber, metaString, metaStrings } from "../gguf/metadata.js";
import type { GgufFile } from "../gguf/readGguf.js";
import { GgufType } from "../gguf/values.js";
import { TokenizerError } from "./errors.js";
import { PRE_TOKENIZERS, type PreTokenizer } from "./pretokenizers.js";

/** tokenizer.ggml.token_type values (llama_token_type). */
export const TokenType = { UNDEFINED: 0, NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

/** llama_token_attr bits. */
export const Attr = {
  UNDEFINED: 0,
  UNKNOWN: 1 << 0,
  UNUSED: 1 << 1,
  NORMAL: 1 << 2,
  CONTROL: 1 << 3,
  USER_DEFINED: 1 << 4,
  BYTE: 1 << 5,
  NORMALIZED: 1 << 6,
  LSTRIP: 1 << 7,
  RSTRIP: 1 << 8,
  SINGLE_WORD: 1 << 9,
} as const;

const TYPE_TO_ATTR = [Attr.UNDEFINED, Attr.NORMAL, Attr.UNKNOWN, Attr.CONTROL, Attr.USER_DEFINED, Attr.UNUSED, Attr.BYTE];

// Tokens llama.cpp recognises by their text and marks CONTROL (end of turn, fill-in-the-middle);
// the EOG ones also stop generation. Kept as data: llama-vocab.cpp's "auto-detect special tokens by text".
const EOG_TEXTS = [
  "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>",
  "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>",
  "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>", "<｜end▁of▁sentence｜>", "[e~[",
];
const CONTROL_TEXTS = [
  "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>",
  "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>",
  "<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>",
  "<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>",
  "<reponame>", "<|file_sep|>",
];
const FIM_EOG_TEXTS = ["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>", "<|file_sep|>"];

export type VocabKind = "spm" | "bpe" | "wpm";

const MODEL_KINDS: Record<string, VocabKind> = { llama: "spm", gpt2: "bpe", bert: "wpm" };

export interface Vocab {
  readonly kind: VocabKind;
  /** `tokenizer.ggml.pre` as in the file ("default" when absent). */
  readonly preName: string;
  readonly pre: PreTokenizer;
  readonly tokens: readonly string[];
  readonly scores: Float32Array;
  readonly attrs: Uint16Array;
  readonly tokenToId: ReadonlyMap<string, number>;
  /** BPE: "left right" → rank. */
  readonly mergeRanks: ReadonlyMap<string, number>;
  readonly bos: number;
  readonly eos: number;
  readonly unk: number;
  readonly pad: number;
  readonly eog: ReadonlySet<number>;
  readonly addBos: boolean;
  readonly addEos: boolean;
  readonly addSpacePrefix: boolean;
  readonly cleanSpaces: boolean;
  /** WordPiece: separator appended after the text when adding special tokens, and normaliser options. */
  readonly sep: number;
  readonly lowercase: boolean;
  readonly stripAccents: boolean;
  /** Longest token text, in UTF-16 units: bounds WordPiece's longest-match search. */
  readonly maxTokenLength: number;
  /** Control, user-defined and unknown tokens, longest text first: the special-token partition order. */
  readonly specialTokens: readonly number[];
  /** Things a user should know (e.g. a missing pre-tokenizer name). */
  readonly warnings: readonly string[];
}

export function vocabFromGguf(file: GgufFile): Vocab {
  const model = metaString(file, "tokenizer.ggml.model");
  if (model === undefined) throw new TokenizerError(`${file.path ?? "GGUF"}: no tokenizer (tokenizer.ggml.model is missing)`);
  const kind = Object.hasOwn(MODEL_KINDS, model) ? MODEL_KINDS[model] : undefined; // not "constructor" & co.
  if (!kind) {
    throw new TokenizerError(
      `tokenizer.ggml.model '${model}' is not supported (supported: llama (SentencePiece), gpt2 (byte-level BPE), bert (WordPiece))`,
    );
  }
  const tokens = metaStrings(file, "tokenizer.ggml.tokens");
  if (!tokens) throw new TokenizerError("tokenizer.ggml.tokens is missing");
  const n = tokens.length;
  const warnings: string[] = [];

  let preName = metaString(file, "tokenizer.ggml.pre") ?? "default";
  let pre: PreTokenizer = { regexes: [] };
  if (kind === "bpe") {
    if (!file.metadata.has("tokenizer.ggml.pre")) {
      warnings.push("tokenizer.ggml.pre is missing: using the 'default' pre-tokenizer, as llama.cpp does (quality may suffer; reconvert the model)");
    }
    const known = Object.hasOwn(PRE_TOKENIZERS, preName) ? PRE_TOKENIZERS[preName] : undefined;
    if (!known) {
      throw new TokenizerError(
        `unknown pre-tokenizer '${preName}' (tokenizer.ggml.pre); known: ${Object.keys(PRE_TOKENIZERS).sort().join(", ")}`,
      );
    }
    pre = known;
  } else {
    preName = "default";
  }

  const scoresArray = metaArray(file, "tokenizer.ggml.scores", GgufType.FLOAT32)?.items as Float32Array | undefined;
  if (scoresArray && scoresArray.length < n) throw new TokenizerError(`tokenizer.ggml.scores has ${scoresArray.length} entries for ${n} tokens`);
  const scores = scoresArray ?? new Float32Array(n);
  const types = metaArray(file, "tokenizer.ggml.token_type", GgufType.INT32)?.items as Int32Array | undefined;
  if (types && types.length < n) throw new TokenizerError(`tokenizer.ggml.token_type has ${types.length} entries for ${n} tokens`);

  const attrs = new Uint16Array(n);
  const tokenToId = new Map<string, number>();
  const texts = tokens.map((t, i) => (t === "" ? `[EMPTY_${i}]` : t));
  for (let i = 0; i < n; i++) {
    tokenToId.set(texts[i], i); // a later duplicate wins, as in llama.cpp's map assignment
    attrs[i] = types ? (TYPE_TO_ATTR[types[i]] ?? Attr.UNDEFINED) : Attr.NORMAL;
  }

  const mergeRanks = new Map<string, number>();
  if (kind === "bpe") {
    const merges = metaStrings(file, "tokenizer.ggml.merges");
    if (!merges) throw new TokenizerError("tokenizer.ggml.merges is missing (required for a gpt2 vocabulary)");
    // A merge is "left right"; byte-level symbols never contain a space, so the string itself is the key.
    // The first occurrence wins, as in llama.cpp's bpe_ranks.emplace.
    merges.forEach((m, rank) => {
      if (!mergeRanks.has(m)) mergeRanks.set(m, rank);
    });
  }

  const id = (key: string, fallback: number) => {
    const v = metaNumber(file, `tokenizer.ggml.${key}`);
    return v !== undefined && Number.isInteger(v) && v >= 0 && v < n ? v : fallback >= 0 && fallback < n ? fallback : -1;
  };
  // Defaults when the file names no id, per tokenizer kind (llama_vocab::impl::load).
  const spm = kind === "spm";
  const wpm = kind === "wpm";
  const bos = id("bos_token_id", spm ? 1 : wpm ? 101 : -1);
  const eos = id("eos_token_id", spm ? 2 : -1);
  const unk = id("unknown_token_id", spm ? 0 : wpm ? 100 : -1);
  const sep = id("seperator_token_id", wpm ? 102 : -1); // sic: GGUF spells it "seperator"
  const pad = id("padding_token_id", wpm ? 0 : -1);
  const eot = id("eot_token_id", -1);
  const eom = id("eom_token_id", -1);

  const eog = new Set<number>();
  for (const text of CONTROL_TEXTS) {
    const t = tokenToId.get(text);
    if (t !== undefined) attrs[t] |= Attr.CONTROL;
  }
  for (const text of FIM_EOG_TEXTS) {
    const t = tokenToId.get(text);
    if (t !== undefined) eog.add(t);
  }
  for (const text of EOG_TEXTS) {
    const t = tokenToId.get(text);
    if (t !== undefined) {
      eog.add(t);
      attrs[t] |= Attr.CONTROL;
    }
  }
  for (const t of [eos, eot, eom]) if (t >= 0) eog.add(t);
  // Control tokens named "unused" are placeholders, never output.
  for (let i = 0; i < n; i++) if (attrs[i] & Attr.CONTROL && texts[i].includes("unused")) attrs[i] |= Attr.UNUSED;

  const specialTokens: number[] = [];
  for (let i = 0; i < n; i++) if (attrs[i] & (Attr.CONTROL | Attr.USER_DEFINED | Attr.UNKNOWN)) specialTokens.push(i);
  specialTokens.sort((a, b) => texts[b].length - texts[a].length || a - b);

  // Phi-3 strips spaces after its special tokens (llama.cpp sets RSTRIP by model name).
  const name = (metaString(file, "general.name") ?? "").toLowerCase();
  if (name.includes("phi-3") || name.includes("phi3")) {
    for (const t of specialTokens) attrs[t] |= Attr.RSTRIP;
    const set = (text: string, on: boolean) => {
      const t = tokenToId.get(text);
      if (t !== undefined) attrs[t] = on ? attrs[t] | Attr.RSTRIP : attrs[t] & ~Attr.RSTRIP;
    };
    set("</s>", true);
    for (const text of ["<unk>", "<s>", "<|endoftext|>"]) set(text, false);
  }

  const addBos = metaBool(file, "tokenizer.ggml.add_bos_token") ?? (spm || wpm || (pre.addBos ?? false));
  const addEos = metaBool(file, "tokenizer.ggml.add_eos_token") ?? false;
  if (addBos && bos < 0) throw new TokenizerError("the vocabulary asks for a BOS token but has no bos_token_id");
  if (addEos && eos < 0) throw new TokenizerError("the vocabulary asks for an EOS token but has no eos_token_id");
  const lowercase = metaBool(file, "tokenizer.ggml.normalizer.lowercase") ?? true;

  return {
    kind,
    preName,
    pre,
    tokens: texts,
    scores,
    attrs,
    tokenToId,
    mergeRanks,
    bos,
    eos,
    unk,
    pad,
    eog,
    addBos,
    addEos,
    addSpacePrefix: metaBool(file, "tokenizer.ggml.add_space_prefix") ?? spm,
    cleanSpaces: kind === "bpe" ? (pre.cleanSpaces ?? true) : wpm,
    sep,
    lowercase,
    stripAccents: metaBool(file, "tokenizer.ggml.normalizer.strip_accents") ?? lowercase,
    maxTokenLength: texts.reduce((m, t) => Math.max(m, t.length), 0),
    specialTokens,
    warnings,
  };
}
