import * as fs from "node:fs";
import { loadModel } from "../model.js";
import { parseCommandArgs, UsageError } from "./usage.js";

const USAGE = "bench MODEL [-p 512] [-n 128] [-t THREADS] [-r 3] [--kv f16|q8_0|f32] [--json]";

interface Row {
  test: string;
  threads: number;
  avg_ts: number;
  stddev_ts: number;
}

/**
 * `cpu-llm bench`: llama-bench's two tests. pp512 processes 512 prompt tokens from an empty cache; tg128
 * generates 128 tokens one at a time from an empty cache. Tokens are random ids; r repetitions, mean ± sd.
 */
export async function benchCommand(args: string[]): Promise<void> {
  const parsed = parseCommandArgs(args, {
    p: { type: "string", short: "p", default: "512" },
    n: { type: "string", short: "n", default: "128" },
    threads: { type: "string", short: "t" },
    r: { type: "string", short: "r", default: "3" },
    kv: { type: "string", default: "f16" },
    json: { type: "boolean", default: false },
  }, USAGE);
  const [modelPath] = parsed.positionals;
  if (!modelPath) throw new UsageError(`MODEL is required\nusage: cpu-llm ${USAGE}`);
  const v = parsed.values;
  const [p, n, reps] = [Number(v.p), Number(v.n), Number(v.r)];
  if (![p, n, reps].every((x) => Number.isInteger(x) && x >= 0) || reps < 1) throw new UsageError("-p, -n and -r take whole numbers (r ≥ 1)");
  const threads = v.threads === undefined ? undefined : Number(v.threads);

  const loadStart = performance.now();
  const model = await loadModel(modelPath, { threads, contextSize: Math.max(p, n) + 8, kvCacheType: v.kv as "f16" });
  const loadMs = performance.now() - loadStart;
  const nThreads = model.threads;
  const nVocab = model.tokenizer.size;
  let seed = 12345;
  const randomIds = (k: number) => Array.from({ length: k }, () => (seed = (seed * 1103515245 + 12345) >>> 0) % nVocab);
  const rows: Row[] = [];
  const measure = (test: string, tokens: number, run: () => void) => {
    run(); // warm-up
    const rates: number[] = [];
    for (let i = 0; i < reps; i++) {
      const start = performance.now();
      run();
      rates.push((tokens * 1000) / (performance.now() - start));
    }
    const avg = rates.reduce((a, b) => a + b, 0) / rates.length;
    const sd = Math.sqrt(rates.reduce((a, b) => a + (b - avg) ** 2, 0) / Math.max(1, rates.length - 1));
    rows.push({ test, threads: nThreads, avg_ts: avg, stddev_ts: sd });
  };
  try {
    if (p > 0) measure(`pp${p}`, p, () => void model.prefill(randomIds(p)));
    if (n > 0) {
      measure(`tg${n}`, n, () => {
        model.reset();
        for (const id of randomIds(n)) model.step(id);
      });
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
  process.stdout.write(`| model | size | threads | test | t/s |\n| --- | ---: | ---: | ---: | ---: |\n`);
  for (const r of rows) {
    process.stdout.write(`| ${modelPath.split("/").pop()} | ${gib(size)} | ${r.threads} | ${r.test} | ${r.avg_ts.toFixed(2)} ± ${r.stddev_ts.toFixed(2)} |\n`);
  }
  process.stdout.write(`\nload ${(loadMs / 1000).toFixed(2)} s, peak RSS ${gib(process.resourceUsage().maxRSS * 1024)}\n`);
}
