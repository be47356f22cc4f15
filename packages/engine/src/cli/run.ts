import { DEMO_MODEL } from "../demoModel.js";
import { loadModel } from "../model.js";
import { CLI_LOAD_OPTIONS, KV_FLAG, kvCacheTypeOption, numberFlag, parseCommandArgs, threadsFlag, UsageError } from "./usage.js";

/** A loading bar on stderr when it is a terminal; nothing otherwise (pipes, CI logs). */
export function progressBar(): ((fraction: number) => void) | undefined {
  if (!process.stderr.isTTY) return undefined;
  return (fraction) => {
    const width = 30;
    const done = Math.round(fraction * width);
    process.stderr.write(`\rloading [${"#".repeat(done)}${" ".repeat(width - done)}] ${(fraction * 100).toFixed(0)}%${fraction >= 1 ? "\n" : ""}`);
  };
}

const USAGE = `run [MODEL] -p PROMPT [-n N] [--temp T] [--top-k K] [--top-p P] [--min-p P] [--seed S] ${KV_FLAG} [-t THREADS] [-c CTX] [--json [--top K]]`;

/** `cpu-llm run`: streams a completion to stdout; with --json, one line with ids, text and timings. */
export async function runCommand(args: string[]): Promise<void> {
  const parsed = parseCommandArgs(args, {
    prompt: { type: "string", short: "p" },
    n: { type: "string", short: "n" },
    temp: { type: "string" },
    "top-k": { type: "string" },
    "top-p": { type: "string" },
    "min-p": { type: "string" },
    seed: { type: "string" },
    kv: { type: "string" },
    threads: { type: "string", short: "t" },
    ctx: { type: "string", short: "c" },
    json: { type: "boolean", default: false },
    top: { type: "string" },
  }, USAGE);
  const v = parsed.values;
  if (parsed.positionals.length > 1) throw new UsageError(`one MODEL at most\nusage: cpu-llm ${USAGE}`);
  const kv = kvCacheTypeOption(v.kv);
  const model = await loadModel(parsed.positionals[0] ?? DEMO_MODEL, {
    ...CLI_LOAD_OPTIONS,
    onProgress: progressBar(),
    kvCacheType: kv,
    threads: threadsFlag(v.threads),
    contextSize: numberFlag(v.ctx, "-c", "contextSize"),
  });
  try {
    const prompt = v.prompt ?? "Once upon a time";
    const abort = new AbortController();
    const onSigint = () => abort.abort();
    process.once("SIGINT", onSigint);
    const completion = model.complete(prompt, {
      maxTokens: numberFlag(v.n, "-n", "maxTokens") ?? 128,
      temperature: numberFlag(v.temp, "--temp", "temperature"),
      topK: numberFlag(v["top-k"], "--top-k", "topK"),
      topP: numberFlag(v["top-p"], "--top-p", "topP"),
      minP: numberFlag(v["min-p"], "--min-p", "minP"),
      seed: numberFlag(v.seed, "--seed", "seed"),
      logprobs: numberFlag(v.top, "--top", "logprobs"),
      signal: abort.signal,
    });
    const ids: number[] = [];
    const top: [number, number][][] = [];
    // The first step validates (context overflow) before anything is printed.
    let step = await completion.next();
    if (!v.json) process.stdout.write(prompt);
    while (!step.done) {
      if (step.value.tokenId >= 0) ids.push(step.value.tokenId);
      if (step.value.top) top.push(step.value.top.map((t) => [t.tokenId, t.logit]));
      if (!v.json) process.stdout.write(step.value.text);
      step = await completion.next();
    }
    process.off("SIGINT", onSigint);
    const r = step.value;
    if (v.json) {
      const promptIds = model.tokenize(prompt);
      process.stdout.write(`${JSON.stringify({
        prompt_ids: promptIds, ids, text: r.text, finish_reason: r.finishReason, ...(v.top ? { top } : {}),
        timings: { prompt_n: r.promptTokens, prompt_ms: r.promptMs, predicted_n: r.generatedTokens, predicted_ms: r.generationMs },
      })}\n`);
    } else {
      process.stdout.write("\n");
      process.stderr.write(`\n[${r.generatedTokens} tokens, ${r.tokensPerSecond.toFixed(1)} tokens/s, prompt ${r.promptTokens} tokens in ${r.promptMs.toFixed(0)} ms, ${r.finishReason}]\n`);
    }
  } finally {
    await model.close();
  }
}
