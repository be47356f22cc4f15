// Teacher-forced comparison with llama.cpp's reference outputs (../shared/fixtures/reference): feeds
// prompt_ids in one batch, then greedy_ids[:-1] one token at a time, and compares every step's logits at the
// reference's top-5 ids (and all logits where raw rows exist).
import * as fs from "node:fs";
import * as path from "node:path";
import { kvTypeByName, readGguf, Transformer, type GgufFile } from "@cpu-llm/engine";
import { WorkerPool } from "@cpu-llm/kernels";
import { afterAll, beforeAll } from "vitest";
import { fixture } from "./fixtures.js";

/** The two prompts every random-weight model has references for. */
export const REFERENCE_PROMPTS = ["once_upon_a_time", "mixed_fox_zh"];

/** [model, prompt] for each model and reference prompt, for it.each. */
export const referenceCases = (models: readonly string[]) => models.flatMap((m) => REFERENCE_PROMPTS.map((prompt) => [m, prompt]));

/** The median of a teacher-forced run's per-step differences. */
export const medianStep = (steps: readonly number[]) => [...steps].sort((a, b) => a - b)[steps.length >> 1];

/** A 2-thread pool for this test file, made before its tests and closed after them. */
export function testPool(): () => WorkerPool {
  let pool: WorkerPool | undefined;
  beforeAll(async () => {
    pool = await WorkerPool.create({ threads: 2 });
  });
  afterAll(async () => {
    await pool?.close();
  });
  return () => pool!;
}

interface Reference {
  prompt_ids: number[];
  greedy_ids: number[];
  top5_per_step: [number, number][][];
}

/** A model on the pool with a one-sequence cache; run(tokens, pos0) returns every row's logits (n × nVocab). */
export function singleSequence(file: GgufFile, p: WorkerPool, contextSize: number, kv: string, maxBatch?: number) {
  const model = Transformer.load(file, p, { maxBatch });
  const cache = model.createCache({ sequences: 1, contextSize, keyType: kvTypeByName(kv), valueType: kvTypeByName(kv) });
  const run = (tokens: readonly number[], pos0: number) =>
    model.forward(cache, tokens.map((token, i) => ({ token, sequence: 0, position: pos0 + i, logits: true })));
  return { model, run, forward: (token: number, pos: number) => run([token], pos) };
}

/** Runs the teacher-forced pass; returns per-step max |Δ| at the top-5 ids, and the largest |Δ| over raw rows. */
export function teacherForced(pool: WorkerPool, model: string, ref: string, kv: "f32" | "f16" | "q8_0" = "f32") {
  // A model and reference by fixture name, or by path (a model made by the test, a reference kept in test/fixtures).
  const refPath = path.isAbsolute(ref) ? ref : fixture("reference", `${ref}.json`);
  const r: Reference = JSON.parse(fs.readFileSync(refPath, "utf8"));
  const run = singleSequence(readGguf(path.isAbsolute(model) ? model : fixture("models", `${model}.gguf`)), pool, 128, kv, r.prompt_ids.length);
  const rawPath = refPath.replace(/\.json$/, ".f32");
  const raw = fs.existsSync(rawPath) ? new Float32Array(new Uint8Array(fs.readFileSync(rawPath)).buffer) : undefined;
  const ids = [...r.prompt_ids, ...r.greedy_ids.slice(0, -1)];
  const steps: number[] = [];
  const argmaxMisses: number[] = [];
  let rawMax = 0;
  let greedyAgree = true;
  const gaps: number[] = [];
  // As llama.cpp made the references: the prompt in one batch, then a token per step (the orders differ for
  // F32/F16 weights and, past 16 positions, for attention over an F32 cache).
  const n = r.prompt_ids.length;
  const prompt = run.run(r.prompt_ids, 0).slice(); // the pass's buffer is reused by the next
  const nVocab = prompt.length / n;
  ids.forEach((id, pos) => {
    const logits = pos < n ? prompt.subarray(pos * nVocab, (pos + 1) * nVocab) : run.forward(id, pos);
    if (raw) {
      const row = raw.subarray(pos * logits.length, (pos + 1) * logits.length);
      for (let i = 0; i < logits.length; i++) rawMax = Math.max(rawMax, Math.abs(logits[i] - row[i]));
    }
    const s = pos - (r.prompt_ids.length - 1);
    if (s < 0) return;
    steps.push(Math.max(...r.top5_per_step[s].map(([t, l]) => Math.abs(logits[t] - l))));
    gaps.push(r.top5_per_step[s][0][1] - r.top5_per_step[s][1][1]);
    let best = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
    if (best !== r.greedy_ids[s]) {
      greedyAgree = false;
      argmaxMisses.push(s);
    }
  });
  return { steps, rawMax: raw ? rawMax : undefined, greedyAgree, gaps, argmaxMisses };
}


/** The long-context references: a 325-397-token prompt, greedy 32, F32 cache (fixtures README). */
export const LONG_REFERENCE = "long_report.greedy32.kvf32";

/**
 * A long reference read as llama.cpp made it (fixtures README: llama-cli's path): the prompt in one batch,
 * then each greedy token alone. llama.cpp sums some products in another order for a batch of two or more
 * rows than for one (tinyBLAS against vec_dot: F32 and F16 matrices, attention's ·V), so a step's logits
 * depend on which way it was read. Per-step max |Δ| at the top-5 ids, and the steps where our argmax is not
 * the reference's top token although its top-2 gap exceeds 0.1.
 */
export function longReferenceDecoded(pool: WorkerPool, model: string) {
  const r: Reference = JSON.parse(fs.readFileSync(fixture("reference", `${model}.${LONG_REFERENCE}.json`), "utf8"));
  const run = singleSequence(readGguf(fixture("models", `${model}.gguf`)), pool, 512, "f32", r.prompt_ids.length);
  const n = r.prompt_ids.length;
  const prompt = run.run(r.prompt_ids, 0);
  const nVocab = prompt.length / n;
  let logits: Float32Array = prompt.slice((n - 1) * nVocab);
  const steps: number[] = [];
  const argmaxMisses: number[] = [];
  for (let s = 0; s < r.greedy_ids.length; s++) {
    const top5 = r.top5_per_step[s];
    steps.push(Math.max(...top5.map(([t, l]) => Math.abs(logits[t] - l))));
    if (top5[0][1] - top5[1][1] > 0.1 && argmax(logits) !== top5[0][0]) argmaxMisses.push(s);
    if (s + 1 < r.greedy_ids.length) logits = run.forward(r.greedy_ids[s], n + s);
  }
  return { steps, argmaxMisses };
}

/** The same reference's prompt and greedy tokens in one batch (our prefill path); per-step max |Δ| at the top-5 ids. */
export function teacherForcedBatch(pool: WorkerPool, model: string) {
  const r: Reference = JSON.parse(fs.readFileSync(fixture("reference", `${model}.${LONG_REFERENCE}.json`), "utf8"));
  const ids = [...r.prompt_ids, ...r.greedy_ids.slice(0, -1)];
  const run = singleSequence(readGguf(fixture("models", `${model}.gguf`)), pool, 512, "f32", ids.length);
  const all = run.run(ids, 0);
  const nVocab = all.length / ids.length;
  const steps = r.greedy_ids.map((_, s) => {
    const row = all.subarray((r.prompt_ids.length - 1 + s) * nVocab, (r.prompt_ids.length + s) * nVocab);
    return Math.max(...r.top5_per_step[s].map(([t, l]) => Math.abs(row[t] - l)));
  });
  return { steps };
}

const argmax = (x: Float32Array) => x.reduce((best, v, i) => (v > x[best] ? i : best), 0);
