import { parseArgs } from "node:util";
import { LLAMA_PRESETS, writeSynthLlama } from "../synth.js";
import { UsageError } from "./usage.js";

const USAGE = "synth --arch llama --preset 1b|8b|tiny --type q4_0|q8_0 -o FILE";

/** `cpu-llm synth`: writes a random-weight model of a real shape, for benchmarks. */
export function synthCommand(args: string[]): void {
  let v;
  try {
    v = parseArgs({
      args,
      strict: true,
      options: { arch: { type: "string", default: "llama" }, preset: { type: "string" }, type: { type: "string", default: "q4_0" }, output: { type: "string", short: "o" } },
    }).values;
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\nusage: cpu-llm ${USAGE}`);
  }
  if (v.arch !== "llama") throw new UsageError(`--arch: only llama for now, got '${v.arch}'`);
  if (!v.preset || !Object.hasOwn(LLAMA_PRESETS, v.preset)) throw new UsageError(`--preset must be one of ${Object.keys(LLAMA_PRESETS).join(", ")}\nusage: cpu-llm ${USAGE}`);
  if (v.type !== "q4_0" && v.type !== "q8_0") throw new UsageError(`--type must be q4_0 or q8_0, got '${v.type}'`);
  if (!v.output) throw new UsageError(`-o FILE is required\nusage: cpu-llm ${USAGE}`);
  const start = performance.now();
  writeSynthLlama(v.output, v.preset, v.type);
  process.stderr.write(`wrote ${v.output} (${LLAMA_PRESETS[v.preset].name}, ${v.type}) in ${((performance.now() - start) / 1000).toFixed(1)} s\n`);
}
