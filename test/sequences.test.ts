// Contexts and sequences: several conversations on one model, decoded together in one batch per step. Every
// sequence must compute exactly what it computes alone (bit-identical logits, so identical greedy tokens),
// whatever the others do: join late, read long prompts, stop, abort, reset.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ContextOverflowError, DEFAULT_KV_CACHE_TYPE, DisposedError, loadModel, machineLine, metaNumber, NoFreeSequenceError, SequenceBusyError, type CompletionChunk, type CompletionOptions,
  type CompletionResult, type Context, type ContextOptions, type KvCacheType, type Model, type Sequence,
} from "@cpu-llm/engine";
import { writeSynth } from "../packages/engine/src/synth.js";
import { DEMO_MODEL, fixture, fixturesPresent } from "./helpers/fixtures.js";

async function collect(gen: AsyncGenerator<CompletionChunk, CompletionResult>, onChunk?: (c: CompletionChunk, i: number) => void) {
  const ids: number[] = [];
  let step = await gen.next();
  while (!step.done) {
    onChunk?.(step.value, ids.length);
    if (step.value.tokenId >= 0) ids.push(step.value.tokenId);
    step = await gen.next();
  }
  return { ids, result: step.value };
}

const ticks = async (n: number) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

const argmaxOf = (logits: Float32Array) => {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
};

interface Job {
  prompt: string;
  options: CompletionOptions;
  /** Steps of the scheduler to wait before joining. */
  delay: number;
}

const JOBS: Job[] = [
  { prompt: "Once upon a time", options: { maxTokens: 40 }, delay: 0 },
  { prompt: "Lily and Ben went to the park. They saw a big dog and", options: { maxTokens: 25 }, delay: 3 },
  { prompt: "The", options: { maxTokens: 50, stop: ["happy."] }, delay: 1 },
  { prompt: "One day, a little bird", options: { maxTokens: 33, temperature: 0.9, seed: 5 }, delay: 7 },
];

/** Runs every job on its own sequence of one context, all at once, each joining after its delay. */
async function together(context: Context, jobs: readonly Job[]) {
  return Promise.all(jobs.map(async (job) => {
    await ticks(job.delay);
    const sequence = context.getSequence();
    try {
      return await collect(sequence.complete(job.prompt, { temperature: 0, ...job.options }));
    } finally {
      sequence.dispose();
    }
  }));
}

/** Runs every job alone, one after the other, on a one-sequence context. */
async function alone(model: Model, jobs: readonly Job[], cache: KvCacheType | ContextOptions) {
  const context = model.createContext({ sequences: 1, contextSize: 128, ...(typeof cache === "string" ? { kvCacheType: cache } : cache) });
  const out = [];
  for (const job of jobs) {
    const sequence = context.getSequence();
    out.push(await collect(sequence.complete(job.prompt, { temperature: 0, ...job.options })));
    sequence.dispose();
  }
  return out;
}

/** Random interleavings of join / prompt / decode / reset on `model`: every logit row equals its solo replay's. */
async function interleavingsKeepLogits(model: Model, kv: KvCacheType, numRuns = 25) {
  const CTX = 40;
  const context = model.createContext({ sequences: 3, contextSize: CTX, kvCacheType: kv });
  const reference = model.createContext({ sequences: 1, contextSize: CTX, kvCacheType: kv });
  const solo = reference.getSequence();
  const script = fc.record({
    delay: fc.nat(4),
    prompt: fc.array(fc.integer({ min: 1, max: 511 }), { minLength: 1, maxLength: 36 }),
    steps: fc.array(fc.nat(2), { maxLength: 12 }),
    restart: fc.option(fc.array(fc.integer({ min: 1, max: 511 }), { minLength: 1, maxLength: 10 }), { nil: undefined }),
  });
  await fc.assert(
    fc.asyncProperty(fc.array(script, { minLength: 1, maxLength: 3 }), async (scripts) => {
      const traces = await Promise.all(scripts.map(async (s) => {
        await ticks(s.delay);
        const sequence = context.getSequence();
        const trace: { run: number[][]; logits: Float32Array[]; overflowed: boolean }[] = [];
        try {
          for (const prompt of s.restart ? [s.prompt, s.restart] : [s.prompt]) {
            const t = { run: [prompt], logits: [await sequence.prefill(prompt)], overflowed: false };
            trace.push(t);
            for (const pause of s.steps) {
              await ticks(pause);
              const token = argmaxOf(t.logits[t.logits.length - 1]);
              if (sequence.tokens.length >= CTX) {
                const error = await sequence.step(token).catch((e) => e);
                expect(error).toBeInstanceOf(ContextOverflowError);
                expect(error.sequence).toBe(sequence.id);
                t.overflowed = true;
                break;
              }
              t.run.push([token]);
              t.logits.push(await sequence.step(token));
            }
          }
        } finally {
          sequence.dispose();
        }
        return trace;
      }));
      for (const trace of traces) {
        for (const t of trace) {
          expect(await solo.prefill(t.run[0])).toEqual(t.logits[0]);
          for (let i = 1; i < t.run.length; i++) expect(await solo.step(t.run[i][0])).toEqual(t.logits[i]);
        }
      }
    }),
    { numRuns },
  );
  context.dispose();
  reference.dispose();
}

describe("contexts and sequences (bundled stories260K)", () => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(DEMO_MODEL, { threads: 2 });
  });
  afterAll(async () => {
    await model?.close();
  });

  it.each(["f32", "f16"] as const)("four sequences joining at different steps each give their solo tokens (%s cache)", async (kv) => {
    const context = model.createContext({ sequences: 4, contextSize: 128, kvCacheType: kv });
    const before = context.scheduler.stats.steps;
    const got = await together(context, JOBS);
    const want = await alone(model, JOBS, kv);
    for (let i = 0; i < JOBS.length; i++) {
      expect(got[i].ids).toEqual(want[i].ids);
      expect(got[i].result.text).toBe(want[i].result.text);
      expect(got[i].result.finishReason).toBe(want[i].result.finishReason);
    }
    expect(got[2].result.finishReason).toBe("stop");
    // Batched: far fewer forward passes than tokens run (a prompt chunk or one token per sequence each step).
    const tokens = got.reduce((n, g) => n + g.result.promptTokens + g.result.generatedTokens, 0);
    expect(context.scheduler.stats.steps - before).toBeLessThan(tokens / 2);
    context.dispose();
  });

  it("an aborted sequence leaves the others unchanged, and its cells serve the next sequence", async () => {
    const context = model.createContext({ sequences: 2, contextSize: 128, kvCacheType: "f32" });
    const want = await alone(model, [JOBS[0], JOBS[1]], "f32");
    const abort = new AbortController();
    const victim = context.getSequence();
    const other = context.getSequence();
    expect(() => context.getSequence()).toThrow(NoFreeSequenceError);
    const [aborted, kept] = await Promise.all([
      collect(victim.complete("Once upon a time there was a dragon", { temperature: 0, maxTokens: 60, signal: abort.signal }), (_c, i) => {
        if (i === 4) abort.abort();
      }),
      collect(other.complete(JOBS[0].prompt, { temperature: 0, ...JOBS[0].options })),
    ]);
    expect(aborted.result).toMatchObject({ finishReason: "abort", generatedTokens: 5 });
    expect(kept.ids).toEqual(want[0].ids);
    victim.dispose();
    // The freed slot (same cells, with stale keys and values in them) gives a new sequence its solo result.
    const next = context.getSequence();
    expect(next.id).toBe(victim.id);
    expect(next.tokens).toEqual([]);
    expect((await collect(next.complete(JOBS[1].prompt, { temperature: 0, ...JOBS[1].options }))).ids).toEqual(want[1].ids);
    expect(() => victim.reset()).toThrow(DisposedError);
    context.dispose();
  });

  it("a disposed sequence ends its running completion with 'abort'; the context refuses new sequences once disposed", async () => {
    const context = model.createContext({ sequences: 1, contextSize: 64 });
    const sequence = context.getSequence();
    const run = collect(sequence.complete("Once upon a time", { temperature: 0, maxTokens: 50 }), (_c, i) => {
      if (i === 2) sequence.dispose();
    });
    expect((await run).result.finishReason).toBe("abort");
    // A step waiting for the scheduler when its sequence is disposed: DisposedError, not a stray TypeError.
    const other = context.getSequence();
    const pending = other.step(1);
    other.dispose();
    await expect(pending).rejects.toThrow(DisposedError);
    context.dispose();
    expect(() => context.getSequence()).toThrow(DisposedError);
  });

  it("one call at a time per sequence: prefill, step, logits and reset during a completion are SequenceBusyError", async () => {
    const context = model.createContext({ sequences: 1, contextSize: 64 });
    const sequence = context.getSequence();
    const gen = sequence.complete("Once upon a time", { temperature: 0, maxTokens: 10 });
    await gen.next();
    await expect(sequence.step(1)).rejects.toThrow(SequenceBusyError);
    await expect(sequence.prefill([1, 2])).rejects.toThrow(SequenceBusyError);
    await expect(sequence.logits([1, 2])).rejects.toThrow(SequenceBusyError);
    expect(() => sequence.reset()).toThrow(SequenceBusyError);
    await gen.return(undefined as never);
    expect(await sequence.step(1)).toHaveLength(512);
    context.dispose();
  });

  it("a sequence started from another's cached prefix computes what it would from scratch, without recomputing it", async () => {
    const context = model.createContext({ sequences: 3, contextSize: 128, kvCacheType: "f32" });
    const [system, copy, fresh] = [context.getSequence(), context.getSequence(), context.getSequence()];
    const prefix = "Once upon a time, in a small house, there lived";
    await collect(system.complete(prefix, { temperature: 0, maxTokens: 1 }));
    const cachedPrefix = system.tokens.length;
    copy.copyFrom(system);
    expect(copy.tokens).toEqual(system.tokens);
    const before = context.scheduler.stats.rows;
    const a = await collect(copy.complete(`${prefix} a cat`, { temperature: 0, maxTokens: 20 }));
    const rows = context.scheduler.stats.rows - before;
    const b = await collect(fresh.complete(`${prefix} a cat`, { temperature: 0, maxTokens: 20 }));
    expect(a.ids).toEqual(b.ids);
    expect(a.result.cachedTokens).toBe(cachedPrefix);
    expect(b.result.cachedTokens).toBe(0);
    // The prompt's new tokens, then every generated token but the last (a length stop never runs it).
    expect(rows).toBe(a.result.promptTokens - cachedPrefix + a.result.generatedTokens - (a.result.finishReason === "length" ? 1 : 0));
    expect(() => copy.copyFrom(system, cachedPrefix + 1)).toThrow(RangeError);
    context.dispose();
  });

  it("a bad token id fails its own call, not the batch it would have shared", async () => {
    const context = model.createContext({ sequences: 2, contextSize: 64, kvCacheType: "f32" });
    const [good, bad] = [context.getSequence(), context.getSequence()];
    const want = await alone(model, [JOBS[0]], "f32");
    const [ok, failed] = await Promise.all([
      collect(good.complete(JOBS[0].prompt, { temperature: 0, ...JOBS[0].options })),
      (async () => {
        await ticks(2);
        return bad.step(512).catch((e) => e);
      })(),
    ]);
    expect(failed).toBeInstanceOf(RangeError);
    expect(failed.message).toMatch(/token id 512 is not in the vocabulary \(0 to 511\)/);
    expect(ok.ids).toEqual(want[0].ids);
    await expect(bad.prefill([1, -1])).rejects.toThrow(/token id -1/);
    context.dispose();
  });

  it("impossible context options are RangeErrors naming the option", () => {
    expect(() => model.createContext({ sequences: 0 })).toThrow(/sequences must be a whole number ≥ 1, got 0/);
    expect(() => model.createContext({ sequences: 1.5 })).toThrow(RangeError);
    expect(() => model.createContext({ contextSize: 0 })).toThrow(/contextSize must be a whole number ≥ 1, got 0/);
    expect(() => model.createContext({ contextSize: Number.NaN })).toThrow(RangeError);
    expect(() => model.createContext({ kvCacheType: "q4_0" as never })).toThrow(/KV cache type must be f32, f16, q8_0, got 'q4_0'/);
    expect(() => model.createContext({ cacheTypeV: "bogus" as never })).toThrow(RangeError);
    // stories260K's heads are 8 wide: a Q8_0 cache (blocks of 32) cannot hold them.
    expect(() => model.createContext({ cacheTypeK: "q8_0" })).toThrow(/q8_0 needs a head size that is a multiple of 32 \(this model: 8\)/);
  });

  it("a sequence that would pass its context is a ContextOverflowError naming it, before any compute", async () => {
    const context = model.createContext({ sequences: 2, contextSize: 8 });
    context.getSequence();
    const second = context.getSequence();
    const error = await second.complete("Once upon a time", { maxTokens: 4 }).next().catch((e) => e);
    expect(error).toBeInstanceOf(ContextOverflowError);
    expect(error).toMatchObject({ promptTokens: 5, maxTokens: 4, contextSize: 8, sequence: 1 });
    expect(error.message).toMatch(/of sequence 1/);
    await second.prefill([1, 2, 3, 4, 5, 6, 7, 8]);
    await expect(second.step(9)).rejects.toThrow(ContextOverflowError);
    context.dispose();
  });
});

// stories260K's heads are 8 wide, too narrow for a Q8_0 cache (blocks of 32): a random-weight model with heads of 32.
describe("contexts and sequences with a Q8_0 cache (synthetic tiny Llama, Q8_0 weights)", () => {
  let model: Model;
  let dir: string;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "cpu-llm-seq-"));
    writeSynth(path.join(dir, "tiny.gguf"), "llama", "tiny", "q8_0");
    model = await loadModel(path.join(dir, "tiny.gguf"), { threads: 2, contextSize: 64 });
  });
  afterAll(async () => {
    await model?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it.each([
    { kvCacheType: "q8_0" },
    { cacheTypeK: "q8_0", cacheTypeV: "f16" },
    { cacheTypeK: "f32", cacheTypeV: "q8_0" },
  ] as ContextOptions[])("four sequences joining at different steps each give their solo tokens (%o)", async (cache) => {
    const context = model.createContext({ sequences: 4, contextSize: 128, ...cache });
    const jobs = JOBS.map((j) => ({ ...j, options: { ...j.options, stop: undefined } }));
    const got = await together(context, jobs);
    const want = await alone(model, jobs, cache);
    got.forEach((g, i) => expect(g.ids).toEqual(want[i].ids));
    context.dispose();
  });

  it("createContext takes the model's KV type, trained context and machine by default", async () => {
    expect(model.createContext({ sequences: 1, contextSize: 8 }).cacheTypes).toEqual({ k: DEFAULT_KV_CACHE_TYPE, v: DEFAULT_KV_CACHE_TYPE });
    expect(model.trainedContextSize).toBe(metaNumber(model.file, "llama.context_length"));
    expect(model.machine.threads).toBe(model.threads);
    expect(machineLine(model.machine)).toMatch(/^2 threads \(node \d+: CPUs [\d,-]*\), \d+ physical \/ \d+ logical cores, SIMD yes, relaxed SIMD (yes|no)$/);
    const q8 = await loadModel(path.join(dir, "tiny.gguf"), { threads: 1, contextSize: 16, kvCacheType: "q8_0" });
    try {
      expect(q8.createContext({ sequences: 2, contextSize: 8 }).cacheTypes).toEqual({ k: "q8_0", v: "q8_0" });
      expect(q8.createContext({ sequences: 1, contextSize: 8, cacheTypeV: "f32" }).cacheTypes).toEqual({ k: "q8_0", v: "f32" });
    } finally {
      await q8.close();
    }
  });

  it("keys and values take their own types: bytes per token, and logits that differ from one shared type", async () => {
    // 2 layers × 2 KV heads × 32 dims: Q8_0 34 bytes per 32, F16 64, F32 128.
    expect(model.kvBytesPerToken("q8_0", "f16")).toBe(2 * 2 * (34 + 64));
    expect(model.kvBytesPerToken("f32")).toBe(2 * 2 * (128 + 128));
    const run = async (cache: ContextOptions) => {
      const context = model.createContext({ sequences: 1, contextSize: 64, ...cache });
      expect(context.cacheTypes).toEqual({ k: cache.cacheTypeK ?? cache.kvCacheType, v: cache.cacheTypeV ?? cache.kvCacheType });
      const rows = await context.getSequence().logits(model.tokenize("Once upon a time, in a land far away"));
      context.dispose();
      return rows[rows.length - 1];
    };
    const mixed = await run({ cacheTypeK: "q8_0", cacheTypeV: "f32" });
    expect(mixed).not.toEqual(await run({ kvCacheType: "f32" }));
    expect(mixed).not.toEqual(await run({ kvCacheType: "q8_0" }));
    expect(mixed).toEqual(await run({ cacheTypeK: "q8_0", cacheTypeV: "f32" }));
  });

  // Random interleavings: each sequence joins after a random number of steps, reads a random prompt, decodes
  // greedily with random pauses, and may reset and start over. Every logit row equals, bit for bit, the row
  // the same sequence gives when replayed alone; running past the context is a ContextOverflowError naming it.
  // F32 too: its attention sums a prompt's rows in llama.cpp's batch order and a decoding row in its lone-row
  // order (the scheduler never reads a prompt in a one-row chunk).
  it.each(["q8_0", "f32"] as const)("random interleavings of join / prompt / decode / reset never change a sequence's logits (property, %s cache)", async (kv) => {
    await interleavingsKeepLogits(model, kv);
  });
});

describe.skipIf(!fixturesPresent())("sequences on fixture models against their solo runs", () => {
  // F32 weights: llama.cpp sums a batch through them in tinyBLAS's order and a lone row otherwise, so a decoding
  // row that shares a step must still get the lone order (projection.ts product) to keep its solo logits.
  it("llama-spm-f32: random interleavings never change a sequence's logits (property, f32 cache)", async () => {
    const model = await loadModel(fixture("models", "llama-spm-f32.gguf"), { threads: 2, contextSize: 128 });
    try {
      await interleavingsKeepLogits(model, "f32", 8);
    } finally {
      await model.close();
    }
  });

  it.each([
    ["llama-spm-f32", "f32"],
    ["llama-spm-q8_0", "f16"],
    ["llama-spm-q4_0", "f32"],
  ] as const)("%s, %s cache: three sequences at once give their solo tokens", async (name, kv) => {
    const model = await loadModel(fixture("models", `${name}.gguf`), { threads: 2, contextSize: 128 });
    try {
      const jobs: Job[] = [
        { prompt: "The quick brown fox", options: { maxTokens: 20 }, delay: 0 },
        { prompt: "The quick brown fox 说：你好，世界！ 123", options: { maxTokens: 12 }, delay: 2 },
        { prompt: "Once upon a time", options: { maxTokens: 16 }, delay: 5 },
      ];
      const context = model.createContext({ sequences: 3, contextSize: 128, kvCacheType: kv });
      const got = await together(context, jobs);
      const want = await alone(model, jobs, kv);
      got.forEach((g, i) => expect(g.ids).toEqual(want[i].ids));
    } finally {
      await model.close();
    }
  });
});

// 4 sequences × 2^20 tokens of F32 cache on stories260K: 5 GiB, more than one 4 GiB memory, on one thread (so
// that thread's share spans two arenas, and the last sequence's cells sit past 2 GiB in its arena).
const BIG_CACHE = 4 * 2 ** 20 * 1280;
describe.skipIf(os.freemem() < BIG_CACHE * 1.5)("a KV cache larger than 4 GiB", () => {
  it("holds 4 sequences of 2^20 tokens (5 GiB, F32); the last computes what the first does", async () => {
    const model = await loadModel(DEMO_MODEL, { threads: 1, contextSize: 16 });
    try {
      const context = model.createContext({ sequences: 4, contextSize: 2 ** 20, kvCacheType: "f32" });
      expect(context.cacheBytes).toBeGreaterThan(2 ** 32);
      const sequences = [0, 1, 2, 3].map(() => context.getSequence());
      const prompt = model.tokenize("Once upon a time");
      const [first, last] = await Promise.all([sequences[0].prefill(prompt), sequences[3].prefill(prompt)]);
      expect(last).toEqual(first);
      expect(await sequences[3].step(argmaxOf(last))).toEqual(await sequences[0].step(argmaxOf(first)));
    } finally {
      await model.close();
    }
  });
});
if (os.freemem() < BIG_CACHE * 1.5) console.warn(`[cpu-llm tests] less than ${(BIG_CACHE * 1.5 / 2 ** 30).toFixed(1)} GiB free: the >4 GiB KV cache test is skipped`);
