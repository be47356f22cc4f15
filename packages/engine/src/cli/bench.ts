import * as fs from "node:fs";
import type { KvCacheType } from "@cpu-llm/kernels";
import { loadModel, type Model } from "../model.js";
import { createSampler } from "../sampling/sampler.js";
import { CLI_LOAD_OPTIONS, KV_FLAG, kvCacheTypeOption, numberFlag, parseCommandArgs, threadsFlag, UsageError } from "./usage.js";

const USAGE = `bench MODEL [-p 512] [-n 128] [-d 0] [-t THREADS] [-r 3] ${KV_FLAG} [--temp T] [--sequences 1,2,4,8 [--npp 32]] [--json]`;

interface Row {
  test: string;
  threads: number;
  sequences?: number;
  depth?: number;
  avg_ts: number;
  stddev_ts: number;
}

/**
 * `cpu-llm bench`: llama-bench's two tests. pp512 processes 512 prompt tokens from an empty cache; tg128
 * generates 128 tokens one at a time from an empty cache (or, with -d, after that many tokens: llama-bench's
 * n_depth, "tg128 @ d4096"). With --sequences, llama-batched-bench's decode test
 * instead: N sequences each read a prompt of --npp tokens, then all decode n tokens together (one batch per
 * step); avg_ts is the aggregate generated tokens per second. Tokens are random ids; r repetitions, mean ± sd.
 * With --temp T, tg is run a second time as generation runs ("tg128 temp 0.8"): each step's token is drawn from
 * the previous step's logits by the sampler (llama.cpp's default chain: top-k 40, top-p 0.95, min-p 0.05, fixed
 * seed), so the pair shows what sampling costs a step.
 */
export async function benchCommand(args: string[]): Promise<void> {
  const parsed = parseCommandArgs(args, {
    p: { type: "string", short: "p", default: "512" },
    n: { type: "string", short: "n", default: "128" },
    d: { type: "string", short: "d", default: "0" },
    threads: { type: "string", short: "t" },
    r: { type: "string", short: "r", default: "3" },
    kv: { type: "string" },
    sequences: { type: "string" },
    npp: { type: "string", default: "32" },
    temp: { type: "string" },
    json: { type: "boolean", default: false },
  }, USAGE);
  const [modelPath] = parsed.positionals;
  if (!modelPath) throw new UsageError(`MODEL is required\nusage: cpu-llm ${USAGE}`);
  const v = parsed.values;
  const [p, n, depth, reps, npp] = [Number(v.p), Number(v.n), Number(v.d), Number(v.r), Number(v.npp)];
  if (![p, n, depth, reps, npp].every((x) => Number.isInteger(x) && x >= 0) || reps < 1) throw new UsageError("-p, -n, -d, -r and --npp take whole numbers (r ≥ 1)");
  const kvCacheType = kvCacheTypeOption(v.kv);
  const counts = v.sequences?.split(",").map((s) => {
    if (!/^\d+$/.test(s.trim()) || Number(s) < 1) throw new UsageError(`--sequences takes whole numbers ≥ 1 separated by commas, got '${v.sequences}'`);
    return Number(s);
  });
  const threads = threadsFlag(v.threads);
  const temperature = numberFlag(v.temp, "--temp", "temperature");

  const loadStart = performance.now();
  const model = await loadModel(modelPath, { ...CLI_LOAD_OPTIONS, threads, contextSize: depth + Math.max(p, n) + 8, kvCacheType });
  const loadMs = performance.now() - loadStart;
  const nThreads = model.threads;
  const nVocab = model.tokenizer.size;
  let seed = 12345;
  const randomIds = (k: number) => Array.from({ length: k }, () => (seed = (seed * 1103515245 + 12345) >>> 0) % nVocab);
  const rows: Row[] = [];
  const measure = async (test: string, tokens: number, run: () => Promise<number>, sequences?: number) => {
    if (depth > 0) test += ` @ d${depth}`;
    await run(); // warm-up
    const rates: number[] = [];
    for (let i = 0; i < reps; i++) rates.push((tokens * 1000) / (await run()));
    const avg = rates.reduce((a, b) => a + b, 0) / rates.length;
    const sd = Math.sqrt(rates.reduce((a, b) => a + (b - avg) ** 2, 0) / Math.max(1, rates.length - 1));
    rows.push({ test, threads: nThreads, ...(sequences ? { sequences } : {}), ...(depth ? { depth } : {}), avg_ts: avg, stddev_ts: sd });
  };
  const timed = async (run: () => Promise<unknown>) => {
    const start = performance.now();
    await run();
    return performance.now() - start;
  };
  // The cache holds `depth` tokens before each timed run (untimed).
  const fill = async () => {
    if (depth > 0) await model.prefill(randomIds(depth));
    else model.reset();
  };
  try {
    if (counts) {
      if (depth > 0) throw new UsageError("-d goes with pp and tg, not with --sequences (use --npp)");
      if (temperature !== undefined) throw new UsageError("--temp goes with tg, not with --sequences");
      await benchSequences(model, counts, npp, n, kvCacheType, randomIds, measure);
    } else {
      if (p > 0) {
        await measure(`pp${p}`, p, async () => {
          await fill();
          const ids = randomIds(p);
          return timed(() => model.append(ids));
        });
      }
      if (n > 0) {
        await measure(`tg${n}`, n, async () => {
          await fill();
          return timed(async () => {
            for (const id of randomIds(n)) await model.step(id);
          });
        });
        if (temperature !== undefined) {
          await measure(`tg${n} temp ${temperature}`, n, async () => {
            await fill();
            const sampler = createSampler({ temperature, seed: 1 });
            let token = randomIds(1)[0];
            return timed(async () => {
              for (let i = 0; i < n; i++) {
                token = sampler.sample(await model.step(token));
                sampler.accept(token);
              }
            });
          });
        }
      }
    }
  } finally {
    await model.close();
  }
  if (v.json) {
    for (const r of rows) process.stdout.write(`${JSON.stringify(r)}\n`);
    return;
  }
  const size = fs.statSync(modelPath).size;
  const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;
  process.stdout.write(`| model | size | threads | sequences | test | t/s |\n| --- | ---: | ---: | ---: | ---: | ---: |\n`);
  for (const r of rows) {
    process.stdout.write(`| ${modelPath.split("/").pop()} | ${gib(size)} | ${r.threads} | ${r.sequences ?? 1} | ${r.test} | ${r.avg_ts.toFixed(2)} ± ${r.stddev_ts.toFixed(2)} |\n`);
  }
  process.stdout.write(`\nload ${(loadMs / 1000).toFixed(2)} s, peak RSS ${gib(process.resourceUsage().maxRSS * 1024)}\n`);
}

/** For each count N: N sequences read npp-token prompts, then decode n tokens together; timed is the decode. */
async function benchSequences(
  model: Model, counts: readonly number[], npp: number, n: number, kvCacheType: KvCacheType, randomIds: (k: number) => number[],
  measure: (test: string, tokens: number, run: () => Promise<number>, sequences: number) => Promise<void>,
): Promise<void> {
  const context = model.createContext({ sequences: Math.max(...counts), contextSize: npp + n + 1, kvCacheType });
  const all = Array.from({ length: context.sequences }, () => context.getSequence());
  for (const count of counts) {
    const sequences = all.slice(0, count);
    await measure(`tg${n}`, count * n, async () => {
      await Promise.all(sequences.map((s) => (npp > 0 ? s.prefill(randomIds(npp)) : (s.reset(), undefined))));
      const start = performance.now();
      for (let i = 0; i < n; i++) await Promise.all(sequences.map((s) => s.step(randomIds(1)[0])));
      return performance.now() - start;
    }, count);
  }
  context.dispose();
}
