import { parseArgs } from "node:util";
import { SYNTH_PRESETS, writeSynth } from "../synth.js";
import { FILE_TYPES, isFileType } from "../quantMix.js";
import { oneLine, UsageError } from "./usage.js";

const USAGE = `synth --arch ${Object.keys(SYNTH_PRESETS).join("|")} --preset NAME --type ${Object.keys(FILE_TYPES).join("|")} -o FILE\n  presets: ${Object.entries(SYNTH_PRESETS).map(([a, p]) => `${a}: ${Object.keys(p).join(", ")}`).join("; ")}`;

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
    throw new UsageError(`${oneLine((e as Error).message)}\nusage: cpu-llm ${USAGE}`);
  }
  const presets = Object.hasOwn(SYNTH_PRESETS, v.arch) ? SYNTH_PRESETS[v.arch as keyof typeof SYNTH_PRESETS] : undefined;
  if (!presets) throw new UsageError(`--arch must be one of ${Object.keys(SYNTH_PRESETS).join(", ")}, got '${v.arch}'`);
  if (!v.preset || !Object.hasOwn(presets, v.preset)) throw new UsageError(`--preset for ${v.arch} must be one of ${Object.keys(presets).join(", ")}\nusage: cpu-llm ${USAGE}`);
  if (!isFileType(v.type)) throw new UsageError(`--type must be one of ${Object.keys(FILE_TYPES).join(", ")}, got '${v.type}'`);
  if (!v.output) throw new UsageError(`-o FILE is required\nusage: cpu-llm ${USAGE}`);
  const start = performance.now();
  let shape;
  try {
    shape = writeSynth(v.output, v.arch, v.preset, v.type);
  } catch (e) {
    // A mix the preset's widths cannot take (synthSpec's RangeError) is a usage problem, said in one line.
    if (e instanceof RangeError) throw new UsageError(e.message);
    throw e;
  }
  process.stderr.write(`wrote ${v.output} (${shape.name}, ${v.type}) in ${((performance.now() - start) / 1000).toFixed(1)} s\n`);
}
