import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Sampler, seededRandom } from "@cpu-llm/engine";

const logits = Float32Array.of(1, 3, 2.5, -1, 3, 0);

describe("sampler", () => {
  it("is greedy at temperature 0, lowest id on ties", () => {
    expect(new Sampler({ temperature: 0 }).sample(logits, [])).toBe(1);
  });

  it("top-k 1 is greedy at any temperature", () => {
    fc.assert(fc.property(fc.integer(), (seed) => {
      expect(new Sampler({ temperature: 2, topK: 1, seed }).sample(logits, [])).toBe(1);
    }), { numRuns: 50 });
  });

  it("never picks a token min-p or top-p removed, or one banned by a bias", () => {
    fc.assert(fc.property(fc.integer(), (seed) => {
      const s = new Sampler({ temperature: 1.5, topK: 0, topP: 1, minP: 0.5, seed });
      expect([1, 2, 4]).toContain(s.sample(logits, [])); // p(2.5)/p(3) = 0.61 ≥ 0.5; the rest are below
      const banned = new Sampler({ temperature: 0, logitBias: { 1: -Infinity, 4: -Infinity } });
      expect(banned.sample(logits, [])).toBe(2);
    }), { numRuns: 100 });
  });

  it("penalises repeated tokens", () => {
    expect(new Sampler({ temperature: 0, repeatPenalty: 2 }).sample(logits, [1, 4])).toBe(2); // 3/2 < 2.5
    expect(new Sampler({ temperature: 0, presencePenalty: 1 }).sample(logits, [1, 4])).toBe(2);
    expect(new Sampler({ temperature: 0, frequencyPenalty: 0.3 }).sample(logits, [1, 1, 4])).toBe(4);
  });

  it("the same seed gives the same draws; the draw follows the distribution", () => {
    const draws = (seed: number) => Array.from({ length: 20 }, function (this: Sampler) { return this.sample(logits, []); }, new Sampler({ temperature: 1, topK: 0, topP: 1, minP: 0, seed }));
    expect(draws(7)).toEqual(draws(7));
    const s = new Sampler({ temperature: 1, topK: 0, topP: 1, minP: 0, seed: 1 });
    const counts = new Array(6).fill(0);
    for (let i = 0; i < 20000; i++) counts[s.sample(logits, [])]++;
    const z = Array.from(logits, Math.exp).reduce((a, b) => a + b);
    counts.forEach((c, i) => expect(Math.abs(c / 20000 - Math.exp(logits[i]) / z)).toBeLessThan(0.015));
  });

  it("seededRandom is uniform in [0, 1)", () => {
    const r = seededRandom(3);
    const xs = Array.from({ length: 10000 }, r);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    expect(Math.abs(xs.reduce((a, b) => a + b) / xs.length - 0.5)).toBeLessThan(0.02);
  });
});
