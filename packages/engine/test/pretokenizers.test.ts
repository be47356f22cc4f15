import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PRE_TOKENIZERS } from "@cpu-llm/engine";
import { preTokenize } from "../src/tokenizer/pretokenizers.js";

describe("pre-tokenizers", () => {
  it.each(Object.keys(PRE_TOKENIZERS))("%s splits any text into pieces that put it back together (property)", (name) => {
    const { regexes } = PRE_TOKENIZERS[name];
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 40 }), (text) => {
        const words = preTokenize(text, regexes);
        expect(words.join("")).toBe(text);
        for (const w of words) expect(w.length).toBeGreaterThan(0);
      }),
      { numRuns: 100 },
    );
  });

  it("splits llama-bpe as Llama 3 does", () => {
    expect(preTokenize("Hello world, it's 12345!\n\n  ok", PRE_TOKENIZERS["llama-bpe"].regexes)).toEqual([
      "Hello", " world", ",", " it", "'s", " ", "123", "45", "!\n\n", " ", " ok",
    ]);
  });

  // Where llama.cpp's own whitespace and category tables differ from JavaScript's, llama.cpp wins.
  it("treats U+0085 as whitespace, as llama.cpp's table does", () => {
    expect(preTokenize("a\u0085\u0085b", PRE_TOKENIZERS.qwen2.regexes)).toEqual(["a", "\u0085", "\u0085b"]);
  });

  it("deepseek-v3: ASCII '~' is neither \\p{P} nor \\p{S} in llama.cpp's collapsed classes", () => {
    expect(preTokenize("a~~b", PRE_TOKENIZERS["deepseek-v3"].regexes)).toEqual(["a", "~", "~b"]);
  });

  it("runs each regex inside the pieces of the previous one (lookaheads stop at a piece's end)", () => {
    // deepseek-llm: "\s+$" must see the end of the piece "  " between two letters' pieces, not of the text.
    expect(preTokenize("a  b", PRE_TOKENIZERS["deepseek-llm"].regexes)).toEqual(["a", " ", " b"]);
  });
});
