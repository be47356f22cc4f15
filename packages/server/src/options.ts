// engine-serve's command line, in the style of llama-server's: every number checked (whole numbers where whole
// numbers are meant, ranges where ranges exist), each violation one line naming the flag.
import * as fs from "node:fs";
import { parseArgs } from "node:util";
import {
  DEFAULT_KV_CACHE_TYPE, DEMO_MODEL, joinNegativeValues, KV_CACHE_TYPES, NUMERIC_OPTIONS, numberFromText, parseKvCacheType, threadsRule,
  type KvCacheType, type NumberRule,
} from "@cpu-llm/engine";

export interface ServeOptions {
  readonly model: string;
  readonly host: string;
  readonly port: number;
  readonly threads?: number;
  /** Tokens of context per slot. */
  readonly contextSize?: number;
  readonly parallel: number;
  readonly queue: number;
  readonly cacheTypeK: KvCacheType;
  readonly cacheTypeV: KvCacheType;
  readonly numa: "off" | "distribute";
  readonly apiKey?: string;
  readonly metrics: boolean;
  readonly alias?: string;
  /** A Jinja chat template read from --chat-template-file, used instead of the file's. */
  readonly chatTemplate?: string;
  readonly cors: boolean;
  readonly bodyLimit: number;
  /** Milliseconds a connection may stay silent both ways (llama-server's --timeout). */
  readonly idleTimeoutMs: number;
  /** Milliseconds a client has to send a request's headers and body; then 408 and the connection is closed. */
  readonly requestTimeoutMs: number;
  /** Open connections beyond this are closed as they arrive. */
  readonly maxConnections: number;
  readonly graceMs: number;
}

/**
 * A slot's context when --ctx-size is not given: the model's trained one, at most this (llama-server's default
 * -c 4096): a 128K-context model would otherwise reserve 128K cells per slot.
 */
export const SLOT_CONTEXT_CAP = 4096;

export const HELP = `usage: engine-serve [MODEL] [options]

An OpenAI- and ollama-compatible HTTP server for a GGUF model (default: the bundled demo model).

  MODEL                        GGUF file to serve
  --host HOST                  address to listen on (default: 127.0.0.1)
  --port N                     port to listen on (default: 8080; 0 picks a free one)
  -t, --threads N              threads for the matrix products (default: one per physical core within the CPU quota)
  -c, --ctx-size N             tokens of context PER SLOT (default: the model's, at most ${SLOT_CONTEXT_CAP})
  -np, --parallel N            slots: requests decoded together in one batch per step (default: 4)
  --queue N                    requests that may wait for a slot; beyond them 429 (default: 64)
  -ctk, --cache-type-k TYPE    type of the cached keys: ${KV_CACHE_TYPES.join(", ")} (default: ${DEFAULT_KV_CACHE_TYPE})
  -ctv, --cache-type-v TYPE    type of the cached values, likewise
  --numa MODE                  off | distribute (default: distribute: pin threads per NUMA node, each reading its own weight shard)
  --api-key KEY                require "Authorization: Bearer KEY" (health stays public)
  --api-key-file FILE          the same, the key read from FILE
  --metrics                    serve Prometheus metrics at /metrics
  -a, --alias NAME             model name in the API (default: the file's general.name or file name)
  --chat-template-file FILE    a Jinja chat template to use instead of the model's (tools need one with a tools section)
  --jinja                      accepted for llama-server's command lines: Jinja templates are always on
  --cors                       allow cross-origin requests (off by default)
  --body-limit BYTES           largest request body (default: 1048576); larger is 413
  --timeout SECONDS            a connection silent both ways this long is closed (default: 600, as llama-server)
  --request-timeout SECONDS    time to send a request's headers and body, then 408 (default: 30)
  --max-connections N          open connections beyond N are closed at once (default: 1024)
  -h, --help                   this text
`;

/** A bad flag: one line, exit code 2. */
export class OptionError extends Error {
  override readonly name = "OptionError";
}

/**
 * A flag's number, checked by the engine's rule for the option it sets (the CLI's flags use the same rules and
 * messages), or undefined when the flag is absent.
 */
function flagNumber(flag: string, text: string | undefined, rule: NumberRule): number | undefined {
  if (text === undefined) return undefined;
  try {
    return numberFromText(text, rule, flag);
  } catch (e) {
    throw new OptionError((e as Error).message);
  }
}

const whole = (min: number, max?: number): NumberRule => ({ integer: true, min, max });
/** A timeout: fractions allowed (tests use them), at most a day. */
const seconds: NumberRule = { min: 0.05, max: 86_400 };

export function parseServeArgs(argv: readonly string[]): ServeOptions | "help" {
  // llama-server's short spellings (-np, -ctk, -ctv) are not single letters: map them to long ones first.
  const aliases: Record<string, string> = { "-np": "--parallel", "-ctk": "--cache-type-k", "-ctv": "--cache-type-v" };
  const args = argv.map((a) => aliases[a] ?? a);
  const options = {
    host: { type: "string" }, port: { type: "string" }, threads: { type: "string", short: "t" }, "ctx-size": { type: "string", short: "c" },
    parallel: { type: "string" }, queue: { type: "string" }, "cache-type-k": { type: "string" }, "cache-type-v": { type: "string" },
    numa: { type: "string" }, "api-key": { type: "string" }, "api-key-file": { type: "string" }, metrics: { type: "boolean" },
    alias: { type: "string", short: "a" }, "chat-template-file": { type: "string" }, jinja: { type: "boolean" }, cors: { type: "boolean" }, "body-limit": { type: "string" },
    timeout: { type: "string" }, "request-timeout": { type: "string" }, "max-connections": { type: "string" }, help: { type: "boolean", short: "h" },
  } as const;
  let parsed;
  try {
    parsed = parseArgs({ args: joinNegativeValues(args, options), allowPositionals: true, strict: true, options });
  } catch (e) {
    // parseArgs explains some errors over several lines: one line.
    throw new OptionError((e as Error).message.replace(/\s*\n\s*/g, " "));
  }
  const v = parsed.values;
  if (v.help) return "help";
  if (parsed.positionals.length > 1) throw new OptionError(`one MODEL at most, got ${parsed.positionals.join(" ")}`);
  const model = parsed.positionals[0] ?? DEMO_MODEL;
  const kvType = (flag: string, text: string | undefined): KvCacheType => {
    try {
      return parseKvCacheType(text ?? DEFAULT_KV_CACHE_TYPE, flag);
    } catch (e) {
      throw new OptionError((e as Error).message);
    }
  };
  const numa = v.numa ?? "distribute";
  // llama.cpp's isolate keeps every thread on one node; a copy of the weights per node is not built yet.
  if (numa !== "off" && numa !== "distribute") throw new OptionError(`--numa must be off or distribute, got '${numa}'`);
  if (v["api-key"] !== undefined && v["api-key-file"] !== undefined) throw new OptionError("give --api-key or --api-key-file, not both");
  let apiKey = v["api-key"];
  if (v["api-key-file"] !== undefined) {
    try {
      apiKey = fs.readFileSync(v["api-key-file"], "utf8").trim();
    } catch (e) {
      throw new OptionError(`--api-key-file: ${(e as Error).message}`);
    }
  }
  if (apiKey !== undefined && apiKey.length === 0) throw new OptionError("the API key is empty");
  let chatTemplate: string | undefined;
  if (v["chat-template-file"] !== undefined) {
    try {
      chatTemplate = fs.readFileSync(v["chat-template-file"], "utf8");
    } catch (e) {
      throw new OptionError(`--chat-template-file: ${(e as Error).message}`);
    }
  }
  return {
    model, host: v.host ?? "127.0.0.1", port: flagNumber("--port", v.port, whole(0, 65535)) ?? 8080,
    threads: flagNumber("--threads", v.threads, threadsRule()),
    contextSize: flagNumber("--ctx-size", v["ctx-size"], { ...NUMERIC_OPTIONS.contextSize, max: 2 ** 24 }),
    parallel: flagNumber("--parallel", v.parallel, { ...NUMERIC_OPTIONS.sequences, max: 256 }) ?? 4,
    queue: flagNumber("--queue", v.queue, whole(0, 100_000)) ?? 64,
    cacheTypeK: kvType("--cache-type-k", v["cache-type-k"]), cacheTypeV: kvType("--cache-type-v", v["cache-type-v"]), numa, apiKey, metrics: v.metrics ?? false, alias: v.alias, chatTemplate,
    cors: v.cors ?? false, bodyLimit: flagNumber("--body-limit", v["body-limit"], whole(1024, 2 ** 30)) ?? 1048576,
    idleTimeoutMs: 1000 * (flagNumber("--timeout", v.timeout, seconds) ?? 600),
    requestTimeoutMs: 1000 * (flagNumber("--request-timeout", v["request-timeout"], seconds) ?? 30),
    maxConnections: flagNumber("--max-connections", v["max-connections"], whole(1, 1_000_000)) ?? 1024, graceMs: 10_000,
  };
}
