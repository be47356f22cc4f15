import { parseArgs, type ParseArgsConfig } from "node:util";
import { DEFAULT_KV_CACHE_TYPE, KV_CACHE_TYPES, parseKvCacheType, type KvCacheType } from "@cpu-llm/kernels";
import { joinNegativeValues, numberFromText, NUMERIC_OPTIONS, threadsRule, type NumberRule, type NumericOption } from "../options.js";

/**
 * What every command that loads a model asks of loadModel: the CLI's main thread does nothing but run the
 * engine, so it is pinned to its own core too. Unpinned, the scheduler now and then put it on the core of the
 * pinned worker, which halved every step (8B decode: 1.6-2.4 t/s in about half the runs against 3.0-3.4).
 */
export const CLI_LOAD_OPTIONS = { pinCallingThread: true } as const;

/** Bad command-line arguments: reported with the command's usage, exit code 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

type Options = NonNullable<ParseArgsConfig["options"]>;

/** node:util's parseArgs explains some errors over several lines (an ambiguous `-c -p`): one line each. */
export const oneLine = (message: string) => message.replace(/\s*\n\s*/g, " ");

/**
 * parseArgs (strict, positionals allowed), its errors turned into a UsageError with the command's usage. A
 * negative number after a flag that takes a value (`-c -5`) is that flag's value, so the flag's own check
 * names the range, where parseArgs would call the flag ambiguous.
 */
export function parseCommandArgs<O extends Options>(args: string[], options: O, usage: string) {
  try {
    return parseArgs({ args: joinNegativeValues(args, options), options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(`${oneLine((e as Error).message)}\nusage: cpu-llm ${usage}`);
  }
}

/** parseArgs with one positional MODEL, turning its errors into UsageError. */
export function parseModelArgs<O extends Options>(args: string[], options: O, usage: string) {
  const parsed = parseCommandArgs(args, options, usage);
  const [model, ...extra] = parsed.positionals;
  if (model === undefined) throw new UsageError(`MODEL is required\nusage: cpu-llm ${usage}`);
  if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(" ")}\nusage: cpu-llm ${usage}`);
  return { model, values: parsed.values };
}

/** The --kv flag as usage lines spell it. */
export const KV_FLAG = `[--kv ${KV_CACHE_TYPES.join("|")}]`;

/** The --kv flag's value as a KV cache type; a UsageError naming the accepted ones otherwise. */
export function kvCacheTypeOption(value: string | undefined): KvCacheType {
  try {
    return parseKvCacheType(value ?? DEFAULT_KV_CACHE_TYPE, "--kv");
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/**
 * A flag's value as the number the API option `option` accepts (NUMERIC_OPTIONS: one table for both), or
 * undefined when the flag is absent; a UsageError naming the flag and the accepted values otherwise.
 */
export function numberFlag(value: string | undefined, flag: string, option: NumericOption, narrower: NumberRule = {}): number | undefined {
  if (value === undefined) return undefined;
  try {
    return numberFromText(value, { ...NUMERIC_OPTIONS[option], ...narrower }, flag);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** -t: threads, at most the CPUs this process may use. */
export function threadsFlag(value: string | undefined): number | undefined {
  return numberFlag(value, "-t", "threads", threadsRule());
}
