// The text stages after detokenizing: however the text arrives in pieces, what goes out is the text up to the
// first stop string (split into reasoning and answer when asked), and nothing is emitted that a later piece
// could turn into a stop.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ReasoningSplit } from "../src/generation/reasoningSplit.js";
import { Reasoning, StopStrings, TextPipeline } from "../src/generation/textPipeline.js";

/** Text in pieces through a pipeline; what each push emitted, and the pipeline at the end. */
function run(pieces: readonly string[], stops: readonly string[], think?: boolean) {
  const pipeline = new TextPipeline([new StopStrings(stops), ...(think === undefined ? [] : [new Reasoning(think)])]);
  const out = [];
  for (const p of pieces) {
    out.push(pipeline.push(p));
    if (pipeline.stopped) break;
  }
  out.push(pipeline.end(""));
  return { out, pipeline };
}

const alphabet = fc.constantFrom("a", "b", "<", "/", "think", ">", "\n", " ", "é");
const textArb = fc.array(fc.array(alphabet, { maxLength: 6 }).map((xs) => xs.join("")), { maxLength: 12 });
const stopsArb = fc.array(fc.array(fc.constantFrom("a", "b", "<", ">"), { minLength: 1, maxLength: 3 }).map((xs) => xs.join("")), { maxLength: 3 });

describe("TextPipeline", () => {
  it("emits the text before the first stop string, whatever the pieces (property)", () => {
    fc.assert(fc.property(textArb, stopsArb, (pieces, stops) => {
      // Generation ends at the first piece after which some stop string is complete, cut at the earliest of
      // those complete then (as llama-server checks after every token): a longer stop that begins earlier
      // but would need later text does not count, e.g. stops "b" and ">b>" on ">b" then ">" give ">".
      const whole = pieces.join("");
      let at = whole.length;
      for (let k = 1, text = pieces[0] ?? ""; k <= pieces.length; text += pieces[k] ?? "", k++) {
        const found = stops.map((s) => text.indexOf(s)).filter((i) => i >= 0);
        if (found.length > 0) {
          at = Math.min(...found);
          break;
        }
      }
      const { out, pipeline } = run(pieces, stops);
      expect(out.map((p) => p.text).join("")).toBe(whole.slice(0, at));
      expect(pipeline.total.text).toBe(whole.slice(0, at));
      expect(pipeline.stopped).toBe(at < whole.length);
    }), { numRuns: 500 });
  });

  it("never emits text that a later piece turns into a stop (property)", () => {
    fc.assert(fc.property(textArb, stopsArb, (pieces, stops) => {
      const { out } = run(pieces, stops);
      let emitted = "";
      for (const p of out) {
        emitted += p.text;
        for (const s of stops) expect(emitted.includes(s)).toBe(false);
      }
    }), { numRuns: 300 });
  });

  it("splits reasoning after the stops as ReasoningSplit splits the stopped text (property)", () => {
    fc.assert(fc.property(textArb, stopsArb, fc.boolean(), (pieces, stops, opened) => {
      const whole = pieces.join("");
      const at = Math.min(...stops.map((s) => whole.indexOf(s)).filter((i) => i >= 0), whole.length);
      const split = new ReasoningSplit(opened);
      const a = split.push(whole.slice(0, at)), b = split.flush();
      const { pipeline } = run(pieces, stops, opened);
      expect(pipeline.total).toEqual({ text: a.content + b.content, reasoning: a.reasoning + b.reasoning, calls: [] });
    }), { numRuns: 300 });
  });
});
