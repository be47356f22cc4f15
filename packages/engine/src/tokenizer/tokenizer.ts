// The tokenizer a model's GGUF describes, with llama.cpp's behaviour for special tokens, BOS/EOS and the
// SentencePiece space prefix (llama_vocab::impl::tokenize / token_to_piece / detokenize).
import type { GgufFile } from "../gguf/readGguf.js";
import { bpeTokenize, CHAR_TO_BYTE } from "./bpe.js";
import { TokenizerError } from "./errors.js";
import { spmTokenize } from "./spm.js";
import { wpmTokenize } from "./wpm.js";
import { Attr, vocabFromGguf, type Vocab } from "./vocab.js";

export interface EncodeOptions {
  /** Add BOS/EOS as the vocabulary's add_bos_token/add_eos_token say. Default true. */
  addSpecial?: boolean;
  /** Turn the text of control tokens (`<|im_start|>`, `<s>`) into those tokens. Default false: user text stays text. */
  parseSpecial?: boolean;
}

export interface DecodeOptions {
  /** Drop a leading BOS and trailing EOS that the vocabulary adds itself. Default false. */
  removeSpecial?: boolean;
  /** Render control tokens as their text. Default false. */
  unparseSpecial?: boolean;
}

type Fragment = string | number; // raw text, or a token id split out of it

const SPACE_ESCAPE = "\u2581"; // ▁
const utf8Encoder = new TextEncoder();
const isCSpace = (c: string) => c === " " || (c >= "\t" && c <= "\r");

export class Tokenizer {
  private readonly pieces: (Uint8Array | undefined)[] = [];
  private readonly specialPieces: (Uint8Array | undefined)[] = [];

  constructor(readonly vocab: Vocab) {}

  static fromGguf(file: GgufFile): Tokenizer {
    return new Tokenizer(vocabFromGguf(file));
  }

  get size(): number {
    return this.vocab.tokens.length;
  }

  /** True for end-of-generation tokens (EOS, EOT, <|im_end|>, …). */
  isEog(id: number): boolean {
    return this.vocab.eog.has(id);
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    const { addSpecial = true, parseSpecial = false } = options;
    const v = this.vocab;
    const out: number[] = [];
    const fragments = text.length > 0 ? this.partition(text, parseSpecial) : [];
    // WordPiece always wraps in [CLS] … [SEP] when adding specials (llama.cpp ignores add_bos there).
    if (addSpecial && (v.addBos || v.kind === "wpm")) out.push(v.bos);
    if (v.kind === "spm") {
      // A space is prefixed at the start and after every special token, as SentencePiece's add_dummy_prefix.
      let prevSpecial = true;
      for (const f of fragments) {
        if (typeof f === "number") {
          out.push(f);
          prevSpecial = true;
        } else {
          const prefixed = v.addSpacePrefix && prevSpecial ? ` ${f}` : f;
          spmTokenize(v, prefixed.replaceAll(" ", SPACE_ESCAPE), out);
          prevSpecial = false;
        }
      }
    } else {
      const tokenize = v.kind === "bpe" ? bpeTokenize : wpmTokenize;
      for (const f of fragments) {
        if (typeof f === "number") out.push(f);
        else tokenize(v, f, out);
      }
    }
    if (addSpecial && v.kind === "wpm") out.push(v.sep);
    else if (addSpecial && v.addEos) out.push(v.eos);
    return out;
  }

  /** Splits special-token texts out of raw text, longest token first (tokenizer_st_partition). */
  private partition(text: string, parseSpecial: boolean): Fragment[] {
    const v = this.vocab;
    let fragments: Fragment[] = [text];
    for (const id of v.specialTokens) {
      const attr = v.attrs[id];
      // User-defined tokens are always split out; control/unknown ones only when parsing specials.
      if (!parseSpecial && attr & (Attr.CONTROL | Attr.UNKNOWN)) continue;
      const special = v.tokens[id];
      if (!fragments.some((f) => typeof f === "string" && f.includes(special))) continue;
      const next: Fragment[] = [];
      for (const f of fragments) {
        if (typeof f === "number") {
          next.push(f);
          continue;
        }
        let rest = f;
        for (let at = rest.indexOf(special); at >= 0; at = rest.indexOf(special)) {
          let left = rest.slice(0, at);
          if (attr & Attr.LSTRIP) while (left.length > 0 && isCSpace(left[left.length - 1])) left = left.slice(0, -1);
          if (left.length > 0) next.push(left);
          next.push(id);
          rest = rest.slice(at + special.length);
          if (attr & Attr.RSTRIP) while (rest.length > 0 && isCSpace(rest[0])) rest = rest.slice(1);
        }
        if (rest.length > 0) next.push(rest);
      }
      fragments = next;
    }
    return fragments;
  }

  /** The bytes a token stands for (llama_token_to_piece); control tokens are empty unless special. */
  tokenToPiece(id: number, special = false): Uint8Array {
    const v = this.vocab;
    if (!Number.isInteger(id) || id < 0 || id >= v.tokens.length) {
      throw new TokenizerError(`token id ${id} is out of range (vocabulary has ${v.tokens.length} tokens)`);
    }
    const cache = special ? this.specialPieces : this.pieces;
    let piece = cache[id];
    if (piece === undefined) {
      piece = this.renderPiece(id, special);
      cache[id] = piece;
    }
    return piece;
  }

  private renderPiece(id: number, special: boolean): Uint8Array {
    const v = this.vocab;
    const attr = v.attrs[id];
    const text = v.tokens[id];
    if (!special && attr & (Attr.UNKNOWN | Attr.CONTROL)) return new Uint8Array(0);
    if (attr & (Attr.UNKNOWN | Attr.CONTROL | Attr.USER_DEFINED)) return utf8Encoder.encode(text);
    if (attr & Attr.NORMAL) {
      if (v.kind !== "bpe") return utf8Encoder.encode(text.replaceAll(SPACE_ESCAPE, " "));
      const bytes: number[] = [];
      for (const ch of text) {
        const b = CHAR_TO_BYTE.get(ch);
        if (b !== undefined) bytes.push(b);
        else bytes.push(...utf8Encoder.encode(ch)); // not a byte-level character: keep it as text
      }
      return Uint8Array.from(bytes);
    }
    if (attr & Attr.BYTE) {
      const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(text);
      return m ? Uint8Array.of(parseInt(m[1], 16)) : utf8Encoder.encode(text);
    }
    return new Uint8Array(0); // unused and undefined tokens print nothing
  }

  /** Token ids back to text, as llama_detokenize (including its clean-up of spaces before punctuation). */
  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    const { removeSpecial = false, unparseSpecial = false } = options;
    const v = this.vocab;
    let first = 0;
    let end = ids.length;
    let removeSpace = v.addSpacePrefix;
    if (removeSpecial && v.addBos && end > 0 && ids[0] === v.bos) {
      removeSpace = false;
      first = 1;
    }
    if (removeSpecial && v.addEos && end > first && ids[end - 1] === v.eos) end--;
    let bytes: number[] = [];
    for (let i = first; i < end; i++) {
      const piece = this.tokenToPiece(ids[i], unparseSpecial);
      const skip = removeSpace && piece[0] === 0x20 ? 1 : 0;
      for (let j = skip; j < piece.length; j++) bytes.push(piece[j]);
      removeSpace = false;
    }
    if (v.cleanSpaces) bytes = cleanUpSpaces(bytes);
    return new TextDecoder("utf-8", { ignoreBOM: true }).decode(Uint8Array.from(bytes));
  }

  /** A decoder for streaming: never returns half of a multi-byte character split across tokens. */
  streamDecoder(options: { special?: boolean } = {}): TokenStreamDecoder {
    return new TokenStreamDecoder(this, options.special ?? false);
  }
}

export class TokenStreamDecoder {
  private readonly decoder = new TextDecoder("utf-8", { ignoreBOM: true });
  constructor(
    private readonly tokenizer: Tokenizer,
    private readonly special: boolean,
  ) {}

  /** Text completed by this token (possibly empty while a character is still incomplete). */
  push(id: number): string {
    return this.decoder.decode(this.tokenizer.tokenToPiece(id, this.special), { stream: true });
  }

  /** Whatever is left: an incomplete character at the end becomes U+FFFD. */
  flush(): string {
    return this.decoder.decode();
  }
}

/** llama_detokenize's clean_spaces passes over bytes: " ?" " !" " ." " ,", " ' ", and " 's" " 'm" " 're" " 've". */
function cleanUpSpaces(text: number[]): number[] {
  const SP = 0x20, Q = 0x27;
  const pass = (src: number[], step: (src: number[], i: number, out: number[]) => number): number[] => {
    if (src.length === 0) return src;
    const out = [src[0]];
    for (let i = 1; i < src.length; i++) i = step(src, i, out);
    return out;
  };
  let t = pass(text, (s, i, out) => {
    const x = s[i];
    if (s[i - 1] === SP && (x === 0x3f || x === 0x21 || x === 0x2e || x === 0x2c)) out.pop();
    out.push(x);
    return i;
  });
  t = pass(t, (s, i, out) => {
    const x = s[i];
    if (x === Q && i + 1 < s.length && s[i - 1] === SP && s[i + 1] === SP) {
      out.pop();
      out.push(x);
      s[i + 1] = 0; // llama.cpp zeroes the space after in place, so the next byte sees no space before it
      return i + 1;
    }
    out.push(x);
    return i;
  });
  t = pass(t, (s, i, out) => {
    const x = s[i];
    if (s[i - 1] === SP && x === Q && i + 1 < s.length) {
      const x1 = s[i + 1];
      const x2 = i + 2 < s.length ? s[i + 2] : -1;
      const contraction = x1 === 0x73 || x1 === 0x6d || (x2 === 0x65 && (x1 === 0x72 || x1 === 0x76)); // 's 'm 're 've
      if (contraction) out.pop();
    }
    out.push(x);
    return i;
  });
  return t;
}
