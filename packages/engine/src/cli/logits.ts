import { loadModel } from "../model.js";
import { CLI_LOAD_OPTIONS, KV_FLAG, kvCacheTypeOption, numberFlag, parseCommandArgs, UsageError } from "./usage.js";

const USAGE = `logits MODEL --ids 1,2,3 ${KV_FLAG} [--top K] --json`;

/** `cpu-llm logits`: teacher-forced logits, one row per input position, top K (id, logit) pairs each. */
export async function logitsCommand(args: string[]): Promise<void> {
  const parsed = parseCommandArgs(args, { ids: { type: "string" }, kv: { type: "string" }, top: { type: "string" }, json: { type: "boolean", default: false } }, USAGE);
  const [modelPath] = parsed.positionals;
  if (!modelPath || parsed.values.ids === undefined) throw new UsageError(`MODEL and --ids are required\nusage: cpu-llm ${USAGE}`);
  const ids = parsed.values.ids.split(",").map((s) => {
    if (!/^\d+$/.test(s.trim())) throw new UsageError(`--ids: '${s}' is not a token id`);
    return Number(s);
  });
  const top = numberFlag(parsed.values.top, "--top", "logprobs") ?? 5;
  const kv = kvCacheTypeOption(parsed.values.kv);
  const model = await loadModel(modelPath, { ...CLI_LOAD_OPTIONS, kvCacheType: kv, contextSize: Math.max(ids.length, 16) });
  try {
    for (const id of ids) if (id >= model.tokenizer.size) throw new UsageError(`--ids: ${id} is past the vocabulary (${model.tokenizer.size} tokens)`);
    const rows = (await model.logits(ids)).map((logits) => {
      const order = Array.from({ length: logits.length }, (_, i) => i).sort((a, b) => logits[b] - logits[a] || a - b);
      return order.slice(0, top).map((i) => [i, logits[i]]);
    });
    process.stdout.write(`${JSON.stringify({ rows })}\n`);
  } finally {
    await model.close();
  }
}
