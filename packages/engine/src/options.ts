// The numeric options of the API and what each accepts: one table, which the API checks before any compute
// (checkOptions) and the flags of the CLI (cli/usage.ts numberFlag) and engine-serve parse against
// (numberFromText), so a range lives in one place.
import { readTopology, type CpuTopology } from "@cpu-llm/kernels";

export interface NumberRule {
  readonly integer?: boolean;
  readonly min?: number;
  readonly max?: number;
  /** What the value means at its edges, for the error message. */
  readonly note?: string;
}

export const NUMERIC_OPTIONS = {
  // Loading and contexts.
  threads: { integer: true, min: 1 },
  contextSize: { integer: true, min: 1 },
  sequences: { integer: true, min: 1 },
  // Generation.
  maxTokens: { integer: true, min: 0 },
  logprobs: { integer: true, min: 0 },
  // Sampling (llama.cpp's ranges).
  temperature: { min: 0, note: "0 is greedy" },
  topK: { integer: true, note: "0 or less keeps all, as llama.cpp's top_k" },
  topP: { min: 0, max: 1 },
  minP: { min: 0, max: 1 },
  repeatPenalty: { min: 0, note: "1 is off" },
  presencePenalty: {},
  frequencyPenalty: {},
  repeatLastN: { integer: true, min: 0 },
  seed: { integer: true, note: "taken modulo 2^32" },
} as const satisfies Record<string, NumberRule>;

export type NumericOption = keyof typeof NUMERIC_OPTIONS;

/** Threads: at most the CPUs this process may use (affinity), which only the running machine knows. */
export function threadsRule(topology: CpuTopology = readTopology()): NumberRule {
  return { ...NUMERIC_OPTIONS.threads, max: topology.allowedCpus.length, note: "the CPUs this process may use" };
}

/** An option outside what it accepts: names the option (or the flag) and the accepted values. */
export class InvalidOptionError extends RangeError {
  override readonly name = "InvalidOptionError";
  constructor(
    readonly option: string,
    readonly value: unknown,
    rule: NumberRule,
  ) {
    super(`${option} must be ${describeRule(rule)}, got ${typeof value === "string" ? `'${value}'` : String(value)}`);
  }
}

/** "a whole number from 1 to 8", "a number ≥ 0 (0 is greedy)". */
export function describeRule(rule: NumberRule): string {
  const kind = rule.integer ? "a whole number" : "a number";
  const range = rule.min !== undefined && rule.max !== undefined ? ` from ${rule.min} to ${rule.max}`
    : rule.min !== undefined ? ` ≥ ${rule.min}` : rule.max !== undefined ? ` ≤ ${rule.max}` : "";
  return `${kind}${range}${rule.note ? ` (${rule.note})` : ""}`;
}

/** The value if it is a finite number the rule accepts; an InvalidOptionError naming `label` otherwise. */
export function checkNumber(value: unknown, rule: NumberRule, label: string): number {
  const ok = typeof value === "number" && Number.isFinite(value) && (!rule.integer || Number.isInteger(value))
    && (rule.min === undefined || value >= rule.min) && (rule.max === undefined || value <= rule.max);
  if (!ok) throw new InvalidOptionError(label, value, rule);
  return value as number;
}

/**
 * A number written as text (a command-line flag's value) checked against a rule: the number, or an
 * InvalidOptionError naming `label` and quoting the text. Blank text is no number (Number("") would be 0).
 */
export function numberFromText(text: string, rule: NumberRule, label: string): number {
  try {
    return checkNumber(text.trim() === "" ? NaN : Number(text), rule, label);
  } catch {
    throw new InvalidOptionError(label, text, rule);
  }
}

/** Checks every numeric option that is set (undefined means the default). */
export function checkOptions(options: object): void {
  for (const [key, value] of Object.entries(options)) {
    if (value !== undefined && Object.hasOwn(NUMERIC_OPTIONS, key)) checkNumber(value, NUMERIC_OPTIONS[key as NumericOption], key);
  }
}

/**
 * Command-line arguments for node:util's parseArgs with a negative number after a flag that takes a value
 * joined to it (`-c -5` → `-c-5`, `--ctx -5` → `--ctx=-5`), so that the flag's own check names its range
 * where parseArgs would call the flag ambiguous. `options` is parseArgs' table. (The CLI and engine-serve.)
 */
export function joinNegativeValues(args: readonly string[], options: Readonly<Record<string, { readonly type: string; readonly short?: string }>>): string[] {
  const takesValue = new Set<string>();
  for (const [name, o] of Object.entries(options)) {
    if (o.type !== "string") continue;
    takesValue.add(`--${name}`);
    if (o.short) takesValue.add(`-${o.short}`);
  }
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const next = args[i + 1];
    if (takesValue.has(args[i]) && next !== undefined && /^-[\d.]/.test(next)) {
      out.push(args[i].startsWith("--") ? `${args[i]}=${next}` : `${args[i]}${next}`);
      i++;
    } else {
      out.push(args[i]);
    }
  }
  return out;
}
