import * as fs from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encodeGguf, kv, parseGguf, readGguf, Tokenizer, TokenizerError } from "@cpu-llm/engine";
import { DEMO_MODEL, fixture, fixturesPresent, listFixtures, readVectors } from "../../../test/helpers/fixtures.js";

const tokenizers = new Map<string, Tokenizer>();
function tokenizerOf(file: string): Tokenizer {
  let t = tokenizers.get(file);
  if (!t) {
    t = Tokenizer.fromGguf(readGguf(file));
    tokenizers.set(file, t);
  }
  return t;
}

const HAVE = fixturesPresent();

// llama.cpp's test-tokenizer-0 convention: no BOS/EOS added, special text not parsed.
describe.skipIf(!HAVE)("llama.cpp tokenizer test vectors", () => {
  const cases = listFixtures("vocab", ".gguf.inp")
    .map((inp) => inp.replace(/\.inp$/, ""))
    .filter((gguf) => fs.existsSync(fixture("vocab", gguf)));

  it("has the vocabularies the issue names", () => {
    for (const name of ["llama-spm", "llama-bpe", "qwen2", "deepseek-llm", "deepseek-coder", "falcon", "mpt", "starcoder", "refact", "gpt-2", "phi-3", "bert-bge"]) {
      expect(cases).toContain(`ggml-vocab-${name}.gguf`);
    }
  });

  it.each(cases)("%s", (gguf) => {
    const tok = tokenizerOf(fixture("vocab", gguf));
    const vectors = readVectors(fixture("vocab", `${gguf}.inp`), fixture("vocab", `${gguf}.out`));
    expect(vectors.length).toBeGreaterThanOrEqual(46);
    for (const { text, ids } of vectors) {
      expect({ text, ids: tok.encode(text, { addSpecial: false }) }).toEqual({ text, ids });
    }
  });

  it.each(["stories260K", "stories260K-extra"])("%s vectors on the stories260K model", (name) => {
    const tok = tokenizerOf(fixture("models", "stories260K-f32.gguf"));
    const vectors = readVectors(fixture("tokenizer", `${name}.inp`), fixture("tokenizer", `${name}.out`));
    expect(vectors.length).toBeGreaterThanOrEqual(10);
    for (const { text, ids } of vectors) expect({ text, ids: tok.encode(text, { addSpecial: false }) }).toEqual({ text, ids });
  });
});

describe.skipIf(!HAVE)("prompts and generated text of llama.cpp's reference runs", () => {
  const refs = listFixtures("reference", ".json").filter((f) => f !== "INDEX.json");
  it.each(refs)("%s", (ref) => {
    const r = JSON.parse(fs.readFileSync(fixture("reference", ref), "utf8"));
    const tok = tokenizerOf(fixture("models", `${ref.split(".")[0]}.gguf`));
    // Prompts: BOS as the vocabulary says, special text not parsed.
    expect(tok.encode(r.prompt, { addSpecial: r.add_special, parseSpecial: r.parse_special })).toEqual(r.prompt_ids);
    // Generated text is the concatenation of the pieces; invalid UTF-8 is rendered as U+FFFD by both,
    // but how many U+FFFD per broken sequence differs between decoders, so runs of them count as one.
    const decoder = tok.streamDecoder();
    const text = r.greedy_ids.map((id: number) => decoder.push(id)).join("") + decoder.flush();
    const collapse = (s: string) => s.replace(/\uFFFD+/g, "\uFFFD");
    expect(collapse(text)).toEqual(collapse(r.greedy_text));
  });
});

describe("bundled demo model tokenizer", () => {
  const tok = tokenizerOf(DEMO_MODEL);

  it("adds BOS and the SentencePiece space prefix, as llama.cpp", () => {
    const ids = tok.encode("Once upon a time");
    expect(ids[0]).toBe(tok.vocab.bos);
    expect(tok.decode(ids.slice(1))).toBe("Once upon a time");
    // llama_detokenize strips the prefix space only from a first token that is not BOS, even a removed BOS.
    expect(tok.decode(ids)).toBe(" Once upon a time");
    expect(tok.decode(ids, { removeSpecial: true })).toBe(" Once upon a time");
    expect(tok.encode("")).toEqual([tok.vocab.bos]);
    expect(tok.encode("", { addSpecial: false })).toEqual([]);
  });

  it("parses <s> only when asked", () => {
    const literal = tok.encode("<s>hi", { addSpecial: false });
    expect(literal).not.toContain(tok.vocab.bos);
    const parsed = tok.encode("<s>hi", { addSpecial: false, parseSpecial: true });
    expect(parsed[0]).toBe(tok.vocab.bos);
    expect(parsed.slice(1)).toEqual(tok.encode("hi", { addSpecial: false }));
  });

  it("round-trips any text through byte fallback (property)", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 40 }), (text) => {
        expect(tok.decode(tok.encode(text, { addSpecial: false }))).toBe(text);
      }),
      { numRuns: 500 },
    );
  });

  it("streams without ever emitting half a character (property)", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 30 }), (text) => {
        const ids = tok.encode(text, { addSpecial: false });
        const decoder = tok.streamDecoder();
        const chunks = ids.map((id) => decoder.push(id));
        chunks.push(decoder.flush());
        for (const c of chunks) expect(c).not.toContain("\uFFFD");
        expect(chunks.join("")).toBe(text === "" ? "" : ` ${text}`);
      }),
      { numRuns: 500 },
    );
  });

  it("names an out-of-range token id", () => {
    expect(() => tok.decode([tok.size])).toThrow(TokenizerError);
  });
});

describe.skipIf(!HAVE)("BPE vocabularies", () => {
  it("round-trips any text where llama.cpp does no space clean-up (property)", () => {
    for (const name of ["qwen2", "deepseek-llm", "deepseek-coder"]) {
      const tok = tokenizerOf(fixture("vocab", `ggml-vocab-${name}.gguf`));
      expect(tok.vocab.cleanSpaces).toBe(false);
      fc.assert(
        fc.property(fc.string({ unit: "binary", maxLength: 30 }), (text) => {
          expect(tok.decode(tok.encode(text, { addSpecial: false }))).toBe(text);
        }),
        { numRuns: 200 },
      );
    }
  });

  it("Qwen2: chat control tokens are text unless parseSpecial", () => {
    const tok = tokenizerOf(fixture("vocab", "ggml-vocab-qwen2.gguf"));
    const imStart = tok.vocab.tokenToId.get("<|im_start|>")!;
    expect(tok.encode("<|im_start|>user", { parseSpecial: true })[0]).toBe(imStart);
    expect(tok.encode("<|im_start|>user")).not.toContain(imStart);
    expect(tok.encode("hi")[0]).not.toBe(tok.vocab.bos); // add_bos_token = false
    expect(tok.isEog(tok.vocab.tokenToId.get("<|im_end|>")!)).toBe(true);
    expect(tok.decode([imStart])).toBe("");
    expect(tok.decode([imStart], { unparseSpecial: true })).toBe("<|im_start|>");
  });

  it("Llama 3: BOS added, <|eot_id|> ends generation", () => {
    const tok = tokenizerOf(fixture("vocab", "ggml-vocab-llama-bpe.gguf"));
    expect(tok.encode("Hello")[0]).toBe(128000);
    expect(tok.isEog(tok.vocab.tokenToId.get("<|eot_id|>")!)).toBe(true);
  });

  it("WordPiece (BERT): [CLS] text [SEP], lowercased, accents stripped", () => {
    const tok = tokenizerOf(fixture("vocab", "ggml-vocab-bert-bge.gguf"));
    const ids = tok.encode("Héllo, World!");
    expect(ids[0]).toBe(101);
    expect(ids[ids.length - 1]).toBe(102);
    expect(tok.decode(ids.slice(1, -1))).toBe(" hello, world!"); // llama.cpp keeps the phantom space of the first word
  });

  it("cleans spaces before punctuation on decode as llama.cpp (gpt-2)", () => {
    const tok = tokenizerOf(fixture("vocab", "ggml-vocab-gpt-2.gguf"));
    expect(tok.decode(tok.encode("Hello , world ! I 'm here ' ok ' ."))).toBe("Hello, world! I'm here'ok '."); // " '." at the very end is kept
  });
});

describe("vocabularies the engine refuses", () => {
  const bpe = (extra: ReturnType<typeof kv.string>[]) =>
    parseGguf(
      encodeGguf({
        metadata: [
          kv.string("general.architecture", "gpt2"),
          kv.string("tokenizer.ggml.model", "gpt2"),
          kv.strings("tokenizer.ggml.tokens", ["a", "b", "ab"]),
          kv.strings("tokenizer.ggml.merges", ["a b"]),
          ...extra,
        ],
        tensors: [],
      }),
    );

  it("an unknown pre-tokenizer is an error naming it, never a silent fallback", () => {
    expect(() => Tokenizer.fromGguf(bpe([kv.string("tokenizer.ggml.pre", "klingon")]))).toThrow(/unknown pre-tokenizer 'klingon'/);
    expect(() => Tokenizer.fromGguf(bpe([kv.string("tokenizer.ggml.pre", "constructor")]))).toThrow(/unknown pre-tokenizer 'constructor'/);
  });

  it("a missing pre-tokenizer uses 'default' with a warning, as llama.cpp", () => {
    const tok = Tokenizer.fromGguf(bpe([]));
    expect(tok.vocab.warnings.join()).toMatch(/tokenizer.ggml.pre is missing/);
    expect(tok.encode("ab")).toEqual([2]);
    expect(tok.encode("ba")).toEqual([1, 0]);
  });

  it("an unsupported tokenizer model is a TokenizerError", () => {
    const g = parseGguf(encodeGguf({ metadata: [kv.string("tokenizer.ggml.model", "rwkv"), kv.strings("tokenizer.ggml.tokens", ["a"])], tensors: [] }));
    expect(() => Tokenizer.fromGguf(g)).toThrow(TokenizerError);
    expect(() => Tokenizer.fromGguf(g)).toThrow(/'rwkv' is not supported/);
  });

  it("a file with no vocabulary says so", () => {
    expect(() => Tokenizer.fromGguf(parseGguf(encodeGguf({ metadata: [], tensors: [] })))).toThrow(/tokenizer.ggml.model is missing/);
  });
});

