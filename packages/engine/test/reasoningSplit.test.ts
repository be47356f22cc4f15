// The reasoning split of DeepSeek-R1-style output: any way the text arrives in pieces gives the split of the
// whole text, and the split is what llama-server's --reasoning-format deepseek gives.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { opensThinkBlock, ReasoningSplit } from "../src/generation/reasoningSplit.js";

/** The split of text fed in the given pieces, flushed at the end. */
function splitPieces(pieces: readonly string[], opened: boolean) {
  const s = new ReasoningSplit(opened);
  let reasoning = "";
  let content = "";
  for (const p of [...pieces.map((x) => s.push(x)), s.flush()]) {
    reasoning += p.reasoning;
    content += p.content;
  }
  return { reasoning, content };
}

describe("ReasoningSplit", () => {
  it.each([
    ["Let me think.</think>\n\nThe answer is 4.", true, "Let me think.", "The answer is 4."],
    ["<think>\nhmm</think>4", false, "\nhmm", "4"],
    ["  <think>a</think>  b", false, "a", "b"],
    ["No thinking here.", false, "", "No thinking here."],
    ["still thinking, cut off", true, "still thinking, cut off", ""],
    ["<thin", false, "", "<thin"],
    ["a < b and </think", true, "a < b and </think", ""],
    ["x</think>", true, "x", ""],
    ["The answer is <think> late", false, "", "The answer is <think> late"],
  ])("%j (opened %s)", (text, opened, reasoning, content) => {
    expect(splitPieces([text], opened)).toEqual({ reasoning, content });
  });

  it("any chunking of the text gives the split of the whole (property)", () => {
    const piece = fc.oneof(fc.constantFrom("<think>", "</think>", "<", "</", "think", ">", "\n", " ", "a", "b c"), fc.string({ maxLength: 4 }));
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 20 }), fc.array(fc.nat(40), { maxLength: 6 }), fc.boolean(), (parts, cuts, opened) => {
        const text = parts.join("");
        const at = [...new Set(cuts.map((c) => Math.min(c, text.length)))].sort((a, b) => a - b);
        const pieces = [...at, text.length].map((end, i, all) => text.slice(i === 0 ? 0 : all[i - 1], end));
        expect(splitPieces(pieces, opened)).toEqual(splitPieces([text], opened));
        // Nothing is lost but the tags and the blank lines after the closing one.
        const whole = splitPieces([text], opened);
        expect((whole.reasoning + whole.content).length).toBeLessThanOrEqual(text.length);
      }),
      { numRuns: 500 },
    );
  });

  it("knows the R1 templates' generation prompt", () => {
    expect(opensThinkBlock("<｜User｜>Hi<｜Assistant｜><think>\n")).toBe(true);
    expect(opensThinkBlock("<｜User｜>Hi<｜Assistant｜>")).toBe(false);
  });
});
