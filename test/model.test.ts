// loadModel and streaming completion on the bundled model, and free-running greedy against llama.cpp.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { ChatMessagesError, ChatTemplateError, ContextOverflowError, InsufficientMemoryError, InvalidOptionError, loadModel, NonFiniteLogitsError, type CompletionOptions, SequenceBusyError, type CompletionChunk, type CompletionResult, type Model } from "@cpu-llm/engine";
import { DEMO_MODEL, fixture, fixturesPresent, ROOT } from "./helpers/fixtures.js";
import { writeNanModel } from "./helpers/nanModel.js";

async function collect(gen: AsyncGenerator<CompletionChunk, CompletionResult>, onChunk?: (c: CompletionChunk, i: number) => void) {
  const chunks: CompletionChunk[] = [];
  let step = await gen.next();
  while (!step.done) {
    onChunk?.(step.value, chunks.length);
    chunks.push(step.value);
    step = await gen.next();
  }
  return { chunks, result: step.value };
}

let model: Model;
beforeAll(async () => {
  model = await loadModel(DEMO_MODEL, { kvCacheType: "f32", threads: 2 });
});
afterAll(async () => {
  await model?.close();
});

describe("loadModel + complete (bundled stories260K)", () => {
  it("a model whose weights hold a NaN: NonFiniteLogitsError naming the step, and the model still serves", async () => {
    const file = writeNanModel();
    const bad = await loadModel(file, { threads: 2 });
    try {
      for (const options of [{ temperature: 0 }, { temperature: 0.8, seed: 3 }]) {
        const failure = await collect(bad.complete("Once upon a time", { ...options, maxTokens: 8 })).catch((e) => e);
        expect(failure).toBeInstanceOf(NonFiniteLogitsError);
        expect(failure).toMatchObject({ step: 0, value: NaN });
      }
      // The sequence is free again: the next request gets the same clear error, not a busy sequence.
      await expect(collect(bad.complete("Lily", { maxTokens: 2 }))).rejects.toThrow(NonFiniteLogitsError);
    } finally {
      await bad.close();
      fs.rmSync(path.dirname(file), { recursive: true });
    }
  });

  it("streams a greedy story: chunks add up to the text, timings are filled in", async () => {
    const { chunks, result } = await collect(model.complete("Once upon a time", { temperature: 0, maxTokens: 40 }));
    expect(chunks.map((c) => c.text).join("")).toBe(result.text);
    expect(result).toMatchObject({ finishReason: "length", promptTokens: 5, generatedTokens: 40 });
    expect(result.tokensPerSecond).toBeGreaterThan(0);
    expect(result.text.length).toBeGreaterThan(40);
  });

  it("the same seed gives the same completion", async () => {
    const a = await collect(model.complete("Lily", { temperature: 0.9, seed: 11, maxTokens: 30 }));
    const b = await collect(model.complete("Lily", { temperature: 0.9, seed: 11, maxTokens: 30 }));
    expect(a.result.text).toBe(b.result.text);
  });

  it("reuses the KV cache for a shared prefix without changing results", async () => {
    const first = await collect(model.complete("Once upon a time, there was", { temperature: 0, maxTokens: 20 }));
    await collect(model.complete("Once upon a time", { temperature: 0, maxTokens: 5 }));
    const again = await collect(model.complete("Once upon a time, there was", { temperature: 0, maxTokens: 20 }));
    expect(again.result.text).toBe(first.result.text);
  });

  it("stops at a stop string without emitting it", async () => {
    const { chunks, result } = await collect(model.complete("Once upon a time", { temperature: 0, maxTokens: 60, stop: ["Lily"] }));
    expect(result.finishReason).toBe("stop");
    expect(result.text).not.toContain("Lily");
    expect(chunks.map((c) => c.text).join("")).toBe(result.text);
    expect(result.text.endsWith("named ")).toBe(true);
    // The cache stays consistent after a stop: the same prompt again gives the same story.
    const again = await collect(model.complete("Once upon a time", { temperature: 0, maxTokens: 30 }));
    const fresh = await loadModel(DEMO_MODEL, { kvCacheType: "f32", threads: 1 });
    try {
      expect(again.result.text).toBe((await collect(fresh.complete("Once upon a time", { temperature: 0, maxTokens: 30 }))).result.text);
    } finally {
      await fresh.close();
    }
  });

  it("stops when aborted", async () => {
    const abort = new AbortController();
    const { result } = await collect(model.complete("Once upon a time", { temperature: 0, maxTokens: 60, signal: abort.signal }), (_c, i) => {
      if (i === 2) abort.abort();
    });
    expect(result.finishReason).toBe("abort");
    expect(result.generatedTokens).toBe(3);
  });

  it("chat renders the template and streams a reply; the same conversation gives the same greedy reply", async () => {
    const messages = [{ role: "user" as const, content: "Tell me a story." }];
    const a = await collect(model.chat(messages, { temperature: 0, maxTokens: 16 }));
    const b = await collect(model.chat(messages, { temperature: 0, maxTokens: 16 }));
    expect(a.result.generatedTokens).toBeGreaterThan(0);
    expect(b.result.text).toBe(a.result.text);
    // The Llama 2 template writes "<s>" itself; the rendering drops it because the vocabulary adds its own
    // (as llama-server does), so the prompt has one BOS, not two.
    const ids = model.tokenize(model.chatTemplate.render(messages), { parseSpecial: true, addSpecial: true });
    expect(ids[0]).toBe(model.tokenizer.vocab.bos);
    expect(ids[1]).not.toBe(model.tokenizer.vocab.bos);
    expect(a.result.promptTokens).toBe(ids.length);
  });

  it("numeric options outside their ranges are an InvalidOptionError naming the option, before any compute", async () => {
    await expect(loadModel(DEMO_MODEL, { contextSize: NaN })).rejects.toThrow(/contextSize must be a whole number ≥ 1, got NaN/);
    await expect(loadModel(DEMO_MODEL, { threads: 0 })).rejects.toThrow(InvalidOptionError);
    const first = (options: CompletionOptions) => model.complete("Once", options).next();
    await expect(first({ maxTokens: 1.5 })).rejects.toThrow(/maxTokens must be a whole number ≥ 0, got 1.5/);
    await expect(first({ temperature: -1 })).rejects.toThrow(/temperature must be a number ≥ 0/);
    await expect(first({ topP: 2 })).rejects.toThrow(/topP must be a number from 0 to 1, got 2/);
    await expect(first({ logprobs: -1 })).rejects.toThrow(InvalidOptionError);
    expect(() => model.createContext({ sequences: 0 })).toThrow(/sequences must be a whole number ≥ 1, got 0/);
  });

  // Random option objects: each either fails with a typed error before any token, or completes with as many
  // tokens as it may (the model's sequence stays usable either way).
  it("random completion options give a typed error before any compute or a valid completion (property)", async () => {
    const anyNumber = fc.oneof(fc.double({ noNaN: false }), fc.integer({ min: -5, max: 50 }), fc.constant(undefined));
    await fc.assert(
      fc.asyncProperty(fc.record({ maxTokens: anyNumber, temperature: anyNumber, topK: anyNumber, topP: anyNumber, minP: anyNumber, seed: anyNumber }), async (options) => {
        const gen = model.complete("Once upon", { ...options, maxTokens: options.maxTokens === undefined ? 3 : options.maxTokens });
        let first;
        try {
          first = await gen.next();
        } catch (e) {
          expect(e).toBeInstanceOf(e instanceof ContextOverflowError ? ContextOverflowError : InvalidOptionError);
          return;
        }
        const { chunks, result } = await collect(gen);
        const n = (first.done ? 0 : 1) + chunks.length;
        expect(n).toBeLessThanOrEqual(options.maxTokens ?? 3);
        expect(["length", "stop"]).toContain((first.done ? first.value : result).finishReason);
      }),
      { numRuns: 60 },
    );
  });

  it("an empty conversation, an unknown role or a non-text content is a ChatMessagesError before any compute", () => {
    expect(() => model.chat([])).toThrow(ChatMessagesError);
    expect(() => model.chat([{ role: "wizard" as "user", content: "hi" }])).toThrow(/message 0: role must be one of system, user, assistant, tool, got "wizard"/);
    expect(() => model.chat([{ role: "user", content: "hi" }, { role: "assistant", content: null as unknown as string }])).toThrow(/message 1: content must be a string, got null/);
  });

  it("a chatTemplate that is not Jinja is a ChatTemplateError from loadModel, before any weight is read", async () => {
    await expect(loadModel(DEMO_MODEL, { chatTemplate: "{% for m in messages %}{{ m.content" })).rejects.toThrow(ChatTemplateError);
    await expect(loadModel(DEMO_MODEL, { chatTemplate: "{% if %}" })).rejects.toThrow(/^the chat template does not parse: /);
  });

  it("emits text held back for a stop string that never completes, and runs one completion at a time", async () => {
    // " Lil" could begin "Lilac": held back until the story goes on otherwise, never lost.
    const { chunks, result } = await collect(model.complete("Once upon a time", { temperature: 0, maxTokens: 12, stop: ["Lilac"] }));
    expect(chunks.map((c) => c.text).join("")).toBe(result.text);
    expect(result.text).toContain("Lily");
    const first = model.complete("Once upon a time", { temperature: 0, maxTokens: 4 });
    await first.next();
    await expect(model.complete("Hi", { maxTokens: 2 }).next()).rejects.toThrow(SequenceBusyError);
    await first.return(undefined as never);
    expect((await collect(model.complete("Hi", { temperature: 0, maxTokens: 2 }))).result.generatedTokens).toBe(2);
  });

  // A generator dropped mid-stream (no return(), no break) never runs its finally: the collector gives the
  // sequence back. Run in its own process to call gc() (--expose-gc); the lock is checked with prefill, which
  // holds the sequence only while it runs.
  it("a completion dropped without return() gives its sequence back when collected", () => {
    const script = `
      import { DEMO_MODEL, loadModel } from ${JSON.stringify(pathToFileURL(path.join(ROOT, "packages/engine/dist/index.js")).href)};
      const model = await loadModel(DEMO_MODEL, { threads: 1, contextSize: 64 });
      const busy = () => model.prefill([1]).then(() => false, (e) => e.name === "SequenceBusyError");
      await (async () => { const g = model.complete("Once upon a time", { temperature: 0, maxTokens: 8 }); await g.next(); })();
      const before = await busy();
      let after = true;
      for (let i = 0; i < 10 && after; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 10)); after = await busy(); }
      let text = "";
      for await (const c of model.complete("Once upon a time", { temperature: 0, maxTokens: 4 })) text += c.text;
      await model.close();
      console.log(JSON.stringify({ before, after, text }));`;
    const r = spawnSync(process.execPath, ["--expose-gc", "--input-type=module", "-e", script], { encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout)).toEqual({ before: true, after: false, text: ", there was a" });
  });

  it("refuses a context whose KV cache cannot fit in memory, with the numbers, before loading", async () => {
    const error = await loadModel(DEMO_MODEL, { contextSize: 2 ** 30 }).catch((e) => e);
    expect(error).toBeInstanceOf(InsufficientMemoryError);
    expect(error.message).toMatch(/a context of 1 × 1073741824 tokens needs 640\.\d\d GiB .* but only [\d.]+ GiB is free/);
    expect(() => model.createContext({ sequences: 2 ** 20, contextSize: 2 ** 20 })).toThrow(InsufficientMemoryError);
  });

  it("refuses a prompt that does not fit, before computing, with the counts", async () => {
    const small = await loadModel(DEMO_MODEL, { contextSize: 8, threads: 1 });
    try {
      const error = await small.complete("Once upon a time", { maxTokens: 10 }).next().catch((e) => e);
      expect(error).toBeInstanceOf(ContextOverflowError);
      expect(error).toMatchObject({ promptTokens: 5, maxTokens: 10, contextSize: 8 });
    } finally {
      await small.close();
    }
  });
});

describe.skipIf(!fixturesPresent())("free-running greedy against llama.cpp (F32 files, F32 KV cache)", () => {
  it("log-probabilities and top alternatives match llama.cpp's (logit − log-sum-exp)", async () => {
    // stories260K's reference has raw logits instead of log-sum-exps: compute them from its rows.
    const ref = "stories260K-f32.once_upon_a_time.greedy64.kvf32";
    const r = JSON.parse(fs.readFileSync(fixture("reference", `${ref}.json`), "utf8"));
    const raw = new Float32Array(new Uint8Array(fs.readFileSync(fixture("reference", `${ref}.f32`))).buffer);
    const lse = (row: number) => {
      const l = raw.subarray(row * r.n_vocab, (row + 1) * r.n_vocab);
      const max = Math.max(...l);
      return max + Math.log(l.reduce((a, x) => a + Math.exp(x - max), 0));
    };
    const { chunks } = await collect(model.complete(r.prompt, { temperature: 0, maxTokens: 20, logprobs: 5 }));
    chunks.filter((c) => c.tokenId >= 0).forEach((c, s) => {
      expect(c.logprob!).toBeCloseTo(r.top5_per_step[s][0][1] - lse(r.prompt_ids.length - 1 + s), 4);
      expect(c.top!.map((t) => t.tokenId)).toEqual(r.top5_per_step[s].map((p: [number, number]) => p[0]));
    });
  });

  it.each([
    ["stories260K-f32", "stories260K-f32.once_upon_a_time.greedy64.kvf32"],
    ["llama-spm-f32", "llama-spm-f32.once_upon_a_time.greedy48.kvf32"],
    ["llama-spm-f32", "llama-spm-f32.mixed_fox_zh.greedy48.kvf32"],
  ])("%s gives llama.cpp's tokens at every step (%s)", async (name, ref) => {
    const r = JSON.parse(fs.readFileSync(fixture("reference", `${ref}.json`), "utf8"));
    const m = await loadModel(fixture("models", `${name}.gguf`), { kvCacheType: "f32", contextSize: 128, threads: 2 });
    try {
      const { chunks, result } = await collect(m.complete(r.prompt, { temperature: 0, maxTokens: r.greedy_ids.length }));
      expect(chunks.map((c) => c.tokenId).filter((id) => id >= 0)).toEqual(r.greedy_ids);
      expect(result.text).toBe(r.greedy_text);
    } finally {
      await m.close();
    }
  });
});
