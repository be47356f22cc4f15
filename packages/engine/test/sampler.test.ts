import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Candidates, createSampler, SamplerChain, seededRandom, type SamplerStage, type SamplingOptions } from "@cpu-llm/engine";

/** A chain for these options told `history` as its prompt, then asked for one token. */
const sampleOnce = (options: SamplingOptions, l: Float32Array, history: readonly number[]) => {
  const chain = createSampler(options);
  chain.acceptPrompt(history);
  return chain.sample(l);
};

const logits = Float32Array.of(1, 3, 2.5, -1, 3, 0);

describe("sampler", () => {
  it("is greedy at temperature 0, lowest id on ties", () => {
    expect(createSampler({ temperature: 0 }).sample(logits)).toBe(1);
  });

  it("top-k 1 is greedy at any temperature", () => {
    fc.assert(fc.property(fc.integer(), (seed) => {
      expect(createSampler({ temperature: 2, topK: 1, seed }).sample(logits)).toBe(1);
    }), { numRuns: 50 });
  });

  it("never picks a token min-p or top-p removed, or one banned by a bias", () => {
    fc.assert(fc.property(fc.integer(), (seed) => {
      const s = createSampler({ temperature: 1.5, topK: 0, topP: 1, minP: 0.5, seed });
      expect([1, 2, 4]).toContain(s.sample(logits)); // p(2.5)/p(3) = 0.61 ≥ 0.5; the rest are below
      const banned = createSampler({ temperature: 0, logitBias: { 1: -Infinity, 4: -Infinity } });
      expect(banned.sample(logits)).toBe(2);
    }), { numRuns: 100 });
  });

  // Planted bugs the suite once let through: top-p before top-k, and min-p with ">" instead of ">=".
  it("applies top-k before top-p: top-p's cumulative probability is over the top-k candidates", () => {
    // Top-3 renormalised: 0.367, 0.332, 0.301, so top-p 0.5 keeps 2 tokens; over all ten, it would keep 5 and
    // top-k would then leave token 2 in.
    const l = Float32Array.of(3, 2.9, 2.8, 2.7, 2.7, 2.7, 2.7, 2.7, 2.7, 2.7);
    const drawn = new Set(Array.from({ length: 300 }, (_, seed) => createSampler({ temperature: 1, topK: 3, topP: 0.5, minP: 0, seed }).sample(l)));
    expect([...drawn].sort()).toEqual([0, 1]);
  });

  it("min-p keeps a token exactly at the cutoff (logit = max + logf(minP)), as llama.cpp does", () => {
    const l = Float32Array.of(0, Math.fround(Math.log(0.5)), -5);
    const drawn = new Set(Array.from({ length: 300 }, (_, seed) => createSampler({ temperature: 1, topK: 0, topP: 1, minP: 0.5, seed }).sample(l)));
    expect([...drawn].sort()).toEqual([0, 1]);
  });

  it("penalises repeated tokens", () => {
    expect(sampleOnce({ temperature: 0, repeatPenalty: 2 }, logits, [1, 4])).toBe(2); // 3/2 < 2.5
    expect(sampleOnce({ temperature: 0, presencePenalty: 1 }, logits, [1, 4])).toBe(2);
    expect(sampleOnce({ temperature: 0, frequencyPenalty: 0.3 }, logits, [1, 1, 4])).toBe(4);
    expect(sampleOnce({ temperature: 0, repeatPenalty: 2, repeatLastN: 0 }, logits, [1, 4])).toBe(1); // a window of 0: off
  });

  it("biases before it penalises, as llama.cpp's chain does", () => {
    // Bias first: (2 + 1) / 2 = 1.5 < 1.9. The other way round, 2 / 2 + 1 = 2 would beat 1.9.
    expect(sampleOnce({ temperature: 0, repeatPenalty: 2, logitBias: { 0: 1 } }, Float32Array.of(2, 1.9), [0])).toBe(1);
  });

  it("the same seed gives the same draws; the draw follows the distribution", () => {
    const draws = (seed: number) => Array.from({ length: 20 }, function (this: ReturnType<typeof createSampler>) { return this.sample(logits); }, createSampler({ temperature: 1, topK: 0, topP: 1, minP: 0, seed }));
    expect(draws(7)).toEqual(draws(7));
    const s = createSampler({ temperature: 1, topK: 0, topP: 1, minP: 0, seed: 1 });
    const counts = new Array(6).fill(0);
    for (let i = 0; i < 20000; i++) counts[s.sample(logits)]++;
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

/** The sampler as it was, sorting every candidate per token: the reference the partial selection must equal. */
function sortingSampler(options: { temperature: number; topK: number; topP: number; minP: number; seed: number }) {
  const random = seededRandom(options.seed);
  const softmax = (xs: number[]) => {
    let max = -Infinity;
    for (const x of xs) max = Math.max(max, x);
    const e = xs.map((x) => Math.exp(x - max));
    const sum = e.reduce((a, b) => a + b, 0);
    return e.map((x) => x / sum);
  };
  return (l: Float32Array) => {
    let ids = Array.from({ length: l.length }, (_, i) => i).filter((i) => l[i] > -Infinity);
    ids.sort((a, b) => l[b] - l[a] || a - b);
    if (options.topK > 0) ids = ids.slice(0, options.topK);
    const probs = softmax(ids.map((i) => l[i]));
    if (options.topP < 1) {
      let cumulative = 0;
      let keep = ids.length;
      for (let i = 0; i < ids.length; i++) {
        cumulative += probs[i];
        if (cumulative >= options.topP) {
          keep = i + 1;
          break;
        }
      }
      ids = ids.slice(0, Math.max(1, keep));
    }
    // llama.cpp's min-p: logit ≥ max + logf(minP), in float32.
    if (options.minP > 0) ids = ids.filter((id, i) => i === 0 || l[id] >= Math.fround(l[ids[0]] + Math.fround(Math.log(options.minP))));
    const final = softmax(ids.map((i) => l[i] / options.temperature));
    let r = random();
    for (let i = 0; i < ids.length; i++) {
      r -= final[i];
      if (r <= 0) return ids[i];
    }
    return ids[ids.length - 1];
  };
}

describe("sampler: partial selection", () => {
  // Small integers as well as any floats, and cut-offs that such logits meet exactly (ties at the top-p and
  // min-p boundaries, where ">" and ">=" differ).
  const logit = fc.oneof(
    { weight: 5, arbitrary: fc.float({ min: -20, max: 20, noNaN: true }) },
    { weight: 4, arbitrary: fc.integer({ min: -3, max: 3 }) },
    { weight: 1, arbitrary: fc.constant(-Infinity) },
  );
  const logitsArb = fc.array(logit, { minLength: 1, maxLength: 300 }).filter((xs) => xs.some((x) => x > -Infinity));
  const optionsArb = fc.record({
    temperature: fc.double({ min: 0.05, max: 3, noNaN: true }), topK: fc.nat(60),
    topP: fc.oneof(fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom(0.25, 0.5, 0.75, 1)),
    minP: fc.oneof(fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom(0, Math.exp(-1), Math.exp(-2), 1)),
    seed: fc.integer(),
  });

  it("draws exactly the tokens the full sort draws, for any logits and top-k / top-p / min-p / temperature (property)", () => {
    fc.assert(fc.property(logitsArb, optionsArb, (xs, options) => {
      const l = Float32Array.from(xs);
      const sampler = createSampler(options);
      const reference = sortingSampler(options);
      for (let draw = 0; draw < 5; draw++) expect(sampler.sample(l)).toBe(reference(l));
    }), { numRuns: 300 });
  });

  it("top_k 0 (all candidates) works on a 152K vocabulary and keeps top-p and min-p exact", () => {
    const n = 152_064;
    const random = seededRandom(5);
    const l = Float32Array.from({ length: n }, () => (random() - 0.5) * 8);
    // No top-k, no min-p: top-p takes the most likely tokens from a heap until their probability reaches 0.3.
    let max = -Infinity;
    for (const x of l) max = Math.max(max, x);
    const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => l[b] - l[a] || a - b);
    const z = order.reduce((s, i) => s + Math.exp(l[i] - max), 0);
    const allowed = new Set<number>();
    let cumulative = 0;
    for (const i of order) {
      allowed.add(i);
      cumulative += Math.exp(l[i] - max) / z;
      if (cumulative >= 0.3) break;
    }
    const topP = createSampler({ temperature: 1, topK: 0, topP: 0.3, minP: 0, seed: 1 });
    for (let k = 0; k < 50; k++) expect(allowed.has(topP.sample(l))).toBe(true);
    // Nothing cut at all: every finite token can be drawn; the draw is still a valid id.
    const all = createSampler({ temperature: 0.8, topK: 0, topP: 1, minP: 0, seed: 2 });
    for (let k = 0; k < 5; k++) {
      const id = all.sample(l);
      expect(Number.isInteger(id) && id >= 0 && id < n).toBe(true);
    }
    expect(createSampler({ temperature: 0.8, topK: 0, topP: 0.95, minP: 0.05, seed: 3 }).sample(l)).toBeGreaterThanOrEqual(0);
  });
});

describe("sampler chain", () => {
  it("a stage is told every accepted token and its mask holds for every later stage (property)", () => {
    // A stage that bans the token accepted last: no draw, greedy or sampled, ever repeats it.
    const noRepeat = (): SamplerStage & { last: number } => ({
      name: "no-repeat", last: -1,
      apply(c: Candidates) { if (this.last >= 0) c.writable()[this.last] = -Infinity; },
      accept(token: number) { this.last = token; },
    });
    fc.assert(fc.property(fc.array(fc.float({ min: -5, max: 5, noNaN: true }), { minLength: 2, maxLength: 50 }), fc.integer(), fc.boolean(), (xs, seed, greedyDraw) => {
      const l = Float32Array.from(xs);
      const base = createSampler(greedyDraw ? { temperature: 0 } : { temperature: 1, topK: 0, topP: 1, minP: 0, seed });
      const stage = noRepeat();
      const chain = new SamplerChain([stage, ...base.stages]);
      let previous = -1;
      for (let i = 0; i < 10; i++) {
        const t = chain.sample(l);
        expect(t).not.toBe(previous);
        chain.accept(t);
        previous = t;
      }
      expect(Array.from(l)).toEqual(xs.map(Math.fround)); // the model's logits are never written
    }), { numRuns: 200 });
  });

  it("a chain with no stage that selects is an error naming its stages", () => {
    expect(() => new SamplerChain([{ name: "nothing", apply() {} }]).sample(logits)).toThrow(/\[nothing\] selected no token/);
  });
});
