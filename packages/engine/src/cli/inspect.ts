import { checkModel } from "../checkModel.js";
import { describeModel } from "../describeModel.js";
import { readGguf } from "../gguf/readGguf.js";
import { findNonFinite } from "../gguf/readTensor.js";
import { numberFlag, parseModelArgs } from "./usage.js";

const USAGE = "inspect MODEL [--ctx N] [--check] [--json]";

const bytes = (n: number) =>
  n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(2)} GiB` : n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(2)} MiB` : `${(n / 1024).toFixed(1)} KiB`;
const count = (n: number) => (n >= 1e9 ? `${(n / 1e9).toFixed(2)} B` : n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} K` : `${n}`);

/** `cpu-llm inspect`: exit code 1 when --check finds a non-finite value. */
export function inspectCommand(args: string[]): number {
  const { model, values } = parseModelArgs(args, { ctx: { type: "string" }, check: { type: "boolean", default: false }, json: { type: "boolean", default: false } }, USAGE);
  const ctx = numberFlag(values.ctx, "--ctx", "contextSize");
  const file = readGguf(model);
  const d = describeModel(file, ctx);
  const check = file.tensors.length > 0 ? checkModel(file) : undefined;
  // --check reads every value: a NaN or an infinity in a weight makes garbage without any other error.
  const nonFinite = values.check ? findNonFinite(file) ?? null : undefined;
  const code = nonFinite ? 1 : 0;
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ ...d, check, ...(nonFinite !== undefined ? { nonFinite } : {}) })}\n`);
    return code;
  }
  const lines = [
    `file            ${d.file} (${bytes(d.fileBytes)}, GGUF v${d.ggufVersion})`,
    `architecture    ${d.architecture ?? "(none)"}${d.name ? `  "${d.name}"` : ""}`,
    ...Object.entries(d.hyperParameters).map(([k, v]) => `  ${k.padEnd(34)}${v}`),
    `tokenizer       ${d.tokenizer.model ?? "(none)"}${d.tokenizer.pre ? ` / ${d.tokenizer.pre}` : ""}, ${d.tokenizer.tokens} tokens`,
    `tensors         ${d.tensorCount}${d.tensorCount ? `: ${Object.entries(d.tensorTypes).map(([t, n]) => `${n} ${t}`).join(", ")}` : " (vocabulary only)"}`,
    `parameters      ${count(d.parameters)} (${bytes(d.weightBytes)} of weights)`,
    `memory          ${bytes(d.memory.totalBytes)} at context ${d.memory.contextSize}: weights ${bytes(d.weightBytes)}` +
      ` + ${d.memory.kvCacheType} KV cache ${bytes(d.memory.kvCacheBytes)} + scratch ${bytes(d.memory.scratchBytes)} (estimate)`,
    ...(check ? [`loadable        ${check.loadable ? "yes" : `no: ${check.problem}`}`] : []),
    ...(nonFinite === undefined ? [] : [`values          ${nonFinite ? `${nonFinite.value} in '${nonFinite.tensor}' at element ${nonFinite.index}: this model computes garbage` : "all finite"}`]),
    ...(check?.unusedTensors.length ? [`unused tensors  ${check.unusedTensors.length}: ${check.unusedTensors.slice(0, 8).join(", ")}${check.unusedTensors.length > 8 ? ", …" : ""}`] : []),
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
  return code;
}
