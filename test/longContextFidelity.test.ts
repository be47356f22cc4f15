// Every architecture against llama.cpp's long-context references (fixtures README: `long_report`, a 325-397
// token prompt, greedy 32, F32 cache), read in one batch as llama.cpp read them, with the short references'
// bounds. Two defects hid here until these references existed: RoPE's cos/sin (glibc's cosf/sinf differ from
// Math.cos/Math.sin rounded to float on ~2% of angles; sinCosF32.ts) and the order of attention's ·V sum for a
// batch (tinyBLAS, accumulateRowsF32Tiled). Also: decoding after a long prompt, and prompt lengths up to 512.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { readGguf } from "@cpu-llm/engine";
import { fixture, fixturesPresent } from "./helpers/fixtures.js";
import { singleSequence, teacherForcedBatch, testPool } from "./helpers/teacherForced.js";

const pool = testPool();
const within = (steps: readonly number[], bound: number) => steps.filter((d) => d <= bound).length / steps.length;
const argmax = (x: Float32Array) => x.reduce((best, v, i) => (v > x[best] ? i : best), 0);

describe.skipIf(!fixturesPresent())("long prompts against llama.cpp (F32 cache)", () => {
  it.each(["llama-spm-q4_0", "llama3-q4_0", "qwen2-q4_0", "baichuan-rope-q4_0", "baichuan-alibi-q4_0"])(
    "%s: top-5 within 1e-3 on at least 90 per cent of steps, 0.5 on all",
    (model) => {
      const { steps } = teacherForcedBatch(pool(), model);
      expect(within(steps, 1e-3)).toBeGreaterThanOrEqual(0.9);
      expect(Math.max(...steps)).toBeLessThan(0.5);
      // Measured: equal to the 6 decimals the JSON keeps at every step (Baichuan's 32 and 40 layers included).
      expect(Math.max(...steps)).toBeLessThan(1e-5);
    },
  );

  it.each(["baichuan-rope-f16", "deepseek2-f16"])("%s: top-5 within 0.05", (model) => {
    const { steps } = teacherForcedBatch(pool(), model);
    expect(Math.max(...steps)).toBeLessThan(0.05);
  });

  // Known gap (issue 18): DeepSeek2's MLA files still drift from llama.cpp past ~48 positions (deepseek2 Q4_0
  // worst 0.024, 14 of 32 steps within 1e-3; V3 0.047, 0/32, AMD EPYC, 2026-12-06), after the two fixes above
  // made every other architecture exact. This bound holds today and catches anything worse.
  it.each(["deepseek2-q4_0", "deepseek2v3-q4_0"])("%s: top-5 within 0.1 (not yet llama.cpp's 1e-3)", (model) => {
    const { steps } = teacherForcedBatch(pool(), model);
    expect(Math.max(...steps)).toBeLessThan(0.1);
  });

  // Decoding reads one row per step, where llama.cpp's ·V sums in ggml_vec_dot_f32's order, while the
  // reference's steps were read in one batch: the tokens must still be llama.cpp's greedy choice wherever its
  // top-2 gap is clear, and the logits close.
  it.each(["baichuan-rope-q4_0", "baichuan-alibi-q4_0", "llama3-q4_0", "deepseek2-q4_0"])(
    "%s: greedy decode after the long prompt (read in one batch) picks llama.cpp's tokens",
    (model) => {
      const { reference: r, run } = teacherForcedBatch(pool(), model);
      const n = r.prompt_ids.length;
      const prompt = run.run(r.prompt_ids, 0);
      const nVocab = prompt.length / n;
      let logits: Float32Array = prompt.slice((n - 1) * nVocab);
      let worst = 0;
      for (let s = 0; s < r.greedy_ids.length; s++) {
        const [[top, topLogit], [, second]] = r.top5_per_step[s];
        for (const [t, l] of r.top5_per_step[s]) worst = Math.max(worst, Math.abs(logits[t] - l));
        if (topLogit - second > 0.1) expect(argmax(logits), `step ${s}`).toBe(top);
        if (s + 1 < r.greedy_ids.length) logits = run.forward(r.greedy_ids[s], n + s);
      }
      expect(worst).toBeLessThan(0.1);
    },
  );

  // llama.cpp gives the same logits whether a prompt is read in one batch or in smaller batches (of two or
  // more rows): so must we, at every length up to 512, on a 32-layer file where any order slip is amplified.
  it("baichuan-rope-q4_0: a prompt of any length up to 512 read in chunks gives the one-batch logits, bit for bit", () => {
    const file = readGguf(fixture("models", "baichuan-rope-q4_0.gguf"));
    const whole = singleSequence(file, pool(), 512, "f32", 512);
    const chunked = singleSequence(file, pool(), 512, "f32", 65);
    const nVocab = whole.model.hp.nVocab;
    const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 512 }), fc.integer({ min: 2, max: 64 }), fc.integer({ min: 0, max: 1 << 20 }), (length, chunk, seed) => {
        const ids = Array.from({ length }, (_, i) => (seed + i * 7919) % nVocab);
        const expected = whole.run(ids, 0).slice((length - 1) * nVocab);
        let last = new Float32Array(0);
        for (let pos = 0; pos < length; ) {
          // Never a one-row chunk: llama.cpp sums a lone row in another order too.
          const take = length - pos - chunk === 1 ? chunk + 1 : Math.min(chunk, length - pos);
          const out = chunked.run(ids.slice(pos, pos + take), pos);
          last = out.slice((take - 1) * nVocab);
          pos += take;
        }
        expect(bits(last).equals(bits(expected))).toBe(true);
      }),
      { numRuns: 6 },
    );
  });
});
