// The engine thread: loads the model, holds one context with a sequence per slot, and runs every request on
// the idle slot whose cached tokens share the longest prefix with its prompt (so a chat turn re-reads only its
// new tokens). Requests beyond the slots wait here in arrival order; the HTTP side bounds how many may wait.
import * as fs from "node:fs";
import { parentPort, workerData } from "node:worker_threads";
import {
  chatInput, ContextOverflowError, describeModel, loadModel, machineLine, metaString, type CompletionChunk, type CompletionResult, type Model,
  type Sequence,
} from "@cpu-llm/engine";
import { SLOT_CONTEXT_CAP } from "./options.js";
import type { EngineConfig, EngineError, FromEngine, GenerateRequest, ModelInfo, ToEngine } from "./protocol.js";

const config = workerData as EngineConfig;
const post = (m: FromEngine) => parentPort!.postMessage(m);

/** Errors as plain data (typed errors keep their name and numbers). */
function errorOf(e: unknown): EngineError {
  const err = e instanceof Error ? e : new Error(String(e));
  const extra = err instanceof ContextOverflowError ? { promptTokens: err.promptTokens, maxTokens: err.maxTokens, contextSize: err.contextSize } : {};
  return { name: err.name, message: err.message, ...extra };
}

interface Slot {
  readonly sequence: Sequence;
  busy: boolean;
}

interface Pending {
  readonly id: number;
  readonly request: GenerateRequest;
  readonly abort: AbortController;
}

let model: Model;
let slots: Slot[];
const waiting: Pending[] = [];
const aborts = new Map<number, AbortController>();

async function load(): Promise<void> {
  const start = performance.now();
  model = await loadModel(config.model, {
    // This thread only runs the engine: pinned like the pool's workers, it never shares a core with one.
    threads: config.threads, kvCacheType: config.cacheTypeK, numa: config.numa, contextSize: 1, pinCallingThread: true, chatTemplate: config.chatTemplate,
    onProgress: (fraction) => post({ type: "progress", fraction }),
  });
  const d = describeModel(model.file);
  const trainedContext = model.trainedContextSize;
  const context = model.createContext({
    sequences: config.parallel, contextSize: config.contextSize ?? Math.min(trainedContext, SLOT_CONTEXT_CAP), cacheTypeK: config.cacheTypeK, cacheTypeV: config.cacheTypeV,
  });
  const kvBytesPerToken = model.kvBytesPerToken(config.cacheTypeK, config.cacheTypeV);
  slots = Array.from({ length: config.parallel }, () => ({ sequence: context.getSequence(), busy: false }));
  const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;
  const metadata: Record<string, string | number | boolean> = {};
  for (const [key, kv] of model.file.metadata) {
    if (typeof kv.value !== "object" && !key.startsWith("tokenizer.ggml.")) metadata[key] = typeof kv.value === "bigint" ? Number(kv.value) : kv.value;
  }
  const quantization = Object.entries(d.tensorTypes).sort((a, b) => b[1] - a[1])[0]?.[0]?.toUpperCase() ?? "unknown";
  const info: ModelInfo = {
    path: config.model,
    architecture: d.architecture ?? "unknown",
    name: d.name ?? config.model.split("/").pop()!.replace(/\.gguf$/, ""),
    sizeBytes: fs.statSync(config.model).size,
    parameters: d.parameters,
    quantization,
    contextSize: context.contextSize,
    trainedContext,
    parallel: config.parallel,
    threads: model.threads,
    kvBytesPerToken,
    cacheBytes: context.cacheBytes,
    // The source only: a file whose template does not parse still serves /v1/completions (chat then says why).
    chatTemplate: config.chatTemplate ?? metaString(model.file, "tokenizer.chat_template") ?? "",
    metadata,
    loadMs: performance.now() - start,
    systemLine:
      `system: ${machineLine(model.machine)}; ` +
      `KV ${config.cacheTypeK === config.cacheTypeV ? config.cacheTypeK : `K ${config.cacheTypeK} V ${config.cacheTypeV}`}, ${kvBytesPerToken} bytes/token; ` +
      `memory: weights ${gib(d.weightBytes)} + KV ${gib(context.cacheBytes)} (${config.parallel} slots × ${context.contextSize} tokens)`,
  };
  post({ type: "ready", info });
}

/**
 * Refuses, before tokenizing it, a prompt that cannot fit however it tokenizes: no token covers more than the
 * vocabulary's longest token text (in UTF-16 units), so a text of L units takes at least L / longest tokens.
 * A 900 KB prompt is then a 400 in microseconds instead of 0.4-0.8 s of this thread, which every slot shares.
 */
function refuseHopelessPrompt(request: GenerateRequest, contextSize: number): void {
  const units = request.kind === "complete" ? request.prompt.length : request.messages.reduce((n, m) => n + m.content.length, 0);
  const longest = Math.max(1, model.tokenizer.vocab.maxTokenLength);
  const atLeast = Math.ceil(units / longest);
  if (atLeast > contextSize) {
    throw new RangeError(`the prompt is ${units} characters, so at least ${atLeast} tokens (no token of this vocabulary is longer than ${longest}), ` +
      `more than a slot holds (${contextSize}): shorten it, or start the server with a larger --ctx-size`);
  }
}

/** The tokens a request's prompt takes, as the sequence will run them. */
function promptOf(request: GenerateRequest, sequence: Sequence): number[] {
  refuseHopelessPrompt(request, sequence.contextSize);
  if (request.kind === "complete") return sequence.promptTokens(request.prompt, request.options);
  const input = chatInput(model.chatTemplate, model.tokenizer, request.messages, request.options);
  return sequence.promptTokens(input.prompt, input.options);
}

/** Starts waiting requests on idle slots, each on the slot whose cache shares the most of its prompt. */
function pump(): void {
  while (waiting.length > 0) {
    const idle = slots.filter((s) => !s.busy);
    if (idle.length === 0) return;
    const next = waiting.shift()!;
    let ids: number[];
    try {
      ids = promptOf(next.request, idle[0].sequence);
    } catch (e) {
      post({ type: "error", id: next.id, error: errorOf(e) });
      continue;
    }
    const shared = (s: Slot) => {
      const t = s.sequence.tokens;
      let n = 0;
      while (n < t.length && n < ids.length && t[n] === ids[n]) n++;
      return n;
    };
    const slot = idle.reduce((best, s) => (shared(s) > shared(best) ? s : best));
    slot.busy = true;
    void run(next, slot, ids).finally(() => {
      slot.busy = false;
      aborts.delete(next.id);
      pump();
    });
  }
}

async function run(pending: Pending, slot: Slot, ids: number[]): Promise<void> {
  const { id, request } = pending;
  const contextSize = slot.sequence.contextSize;
  // Requests without a limit generate until the context is full, as llama-server's n_predict = -1 does.
  const maxTokens = request.options.maxTokens ?? contextSize - ids.length;
  if (ids.length >= contextSize || ids.length + maxTokens > contextSize) {
    // With no limit asked for, the prompt must leave room for at least one token.
    post({ type: "error", id, error: errorOf(new ContextOverflowError(ids.length, Math.max(1, maxTokens), contextSize)) });
    return;
  }
  post({ type: "started", id, slot: slot.sequence.id, promptTokens: ids.length });
  const options = { ...request.options, maxTokens, signal: pending.abort.signal };
  const gen = request.kind === "chat" ? slot.sequence.chat(request.messages, options) : slot.sequence.complete(request.prompt, options);
  try {
    let step: IteratorResult<CompletionChunk, CompletionResult>;
    while (!(step = await gen.next()).done) {
      const c = step.value;
      // Log-probability alternatives carry their token's text, for the APIs that show it.
      const top = c.top?.map((t) => ({ ...t, text: model.tokenizer.decode([t.tokenId]) }));
      post({ type: "chunk", id, chunk: top ? { ...c, top } : c });
    }
    const r = step.value;
    post({
      type: "done", id, result: r,
      timings: {
        prompt_n: r.promptTokens - r.cachedTokens, prompt_ms: r.promptMs, predicted_n: r.generatedTokens, predicted_ms: r.generationMs,
        predicted_per_second: r.tokensPerSecond, cache_n: r.cachedTokens,
      },
    });
  } catch (e) {
    post({ type: "error", id, error: errorOf(e) });
  }
}

parentPort!.on("message", (m: ToEngine) => {
  if (m.type === "generate") {
    const abort = new AbortController();
    aborts.set(m.id, abort);
    waiting.push({ id: m.id, request: m.request, abort });
    pump();
  } else if (m.type === "abort") {
    aborts.get(m.id)?.abort();
    // A request still waiting for a slot ends now; a running one ends at the engine's next step.
    const at = waiting.findIndex((w) => w.id === m.id);
    if (at >= 0) {
      waiting.splice(at, 1);
      aborts.delete(m.id);
      post({ type: "error", id: m.id, error: { name: "AbortError", message: "aborted while waiting for a slot" } });
    }
  } else if (m.type === "shutdown") {
    for (const a of aborts.values()) a.abort();
    void model?.close().finally(() => process.exit(0));
  }
});

load().catch((e) => post({ type: "failed", error: errorOf(e) }));
