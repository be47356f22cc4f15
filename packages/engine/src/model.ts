// The public face: `const model = await loadModel(path)`, then `model.complete(prompt)` streams chunks.
import * as os from "node:os";
import { planThreads, readTopology, WorkerPool } from "@cpu-llm/kernels";
import { kvTypeByName, Llama, llamaHparams } from "./arch/llama.js";
import { ContextOverflowError, InsufficientMemoryError, UnsupportedArchitectureError } from "./errors.js";
import { metaString } from "./gguf/metadata.js";
import { readGguf, type GgufFile } from "./gguf/readGguf.js";
import { assertSupportedNode } from "./nodeVersion.js";
import { ChatTemplate, type ChatMessage } from "./chat/chatTemplate.js";
import { argmax, Sampler, type SamplingOptions } from "./sampling/sampler.js";
import { Tokenizer } from "./tokenizer/tokenizer.js";

export interface LoadOptions {
  /** Threads for the matrix products, main thread included. Default: one per allowed physical core within the CPU quota. */
  threads?: number;
  /** Tokens of context (KV cache length). Default: the model's trained context, capped by free memory. */
  contextSize?: number;
  /** KV cache element type. Default "f16" (llama.cpp's default). */
  kvCacheType?: "f32" | "f16" | "q8_0";
  /** Called as the weights are read, with the fraction read so far (0 to 1). */
  onProgress?: (fraction: number) => void;
  /** Pin threads to cores, grouped by NUMA node (each reads its own weight shard there). Default true. */
  numa?: boolean;
  /** Aborts loading. */
  signal?: AbortSignal;
}

export interface CompletionOptions extends SamplingOptions {
  /** Also report each token's log-probability and the top N alternatives (from the raw logits). Default 0: off. */
  logprobs?: number;
  /** Most tokens to generate. Default 256. */
  maxTokens?: number;
  /** Strings that end the completion; they are not emitted. */
  stop?: readonly string[];
  /** Add BOS as the vocabulary says. Default true. */
  addSpecial?: boolean;
  /** Parse special-token text in the prompt (`<|im_start|>`). Default false. */
  parseSpecial?: boolean;
  signal?: AbortSignal;
}

export interface CompletionChunk {
  /** Text completed by this token (can be empty while a UTF-8 character is incomplete). */
  text: string;
  tokenId: number;
  /** log p(token) under the model's raw distribution, when `logprobs` was asked for. */
  logprob?: number;
  /** The `logprobs` most likely tokens at this step, with their logits and log-probabilities. */
  top?: { tokenId: number; logit: number; logprob: number }[];
}

export interface CompletionResult {
  text: string;
  finishReason: "stop" | "length" | "abort";
  promptTokens: number;
  promptMs: number;
  generatedTokens: number;
  generationMs: number;
  tokensPerSecond: number;
}

export class Model {
  /** Position of the next token in the KV cache: the tokens in `history` occupy [0, position). */
  private history: number[] = [];
  private template: ChatTemplate | undefined;
  private busy = false;

  constructor(
    readonly file: GgufFile,
    readonly tokenizer: Tokenizer,
    private readonly llama: Llama,
    private readonly pool: WorkerPool,
  ) {}

  get contextSize(): number {
    return this.llama.contextSize;
  }

  /** Threads doing the matrix products, the main thread included. */
  get threads(): number {
    return this.pool.threads;
  }

  tokenize(text: string, options?: { addSpecial?: boolean; parseSpecial?: boolean }): number[] {
    return this.tokenizer.encode(text, options);
  }

  detokenize(ids: readonly number[]): string {
    return this.tokenizer.decode(ids);
  }

  /** The model's chat template (its own `tokenizer.chat_template`, else a built-in one). */
  get chatTemplate(): ChatTemplate {
    return (this.template ??= ChatTemplate.fromGguf(this.file, this.tokenizer));
  }

  /**
   * Streams the assistant's reply to a conversation, rendered with the chat template. Special-token text in the
   * template is parsed; the KV cache of the previous turn is reused, so each turn processes only new tokens.
   */
  chat(messages: readonly ChatMessage[], options: CompletionOptions = {}): AsyncGenerator<CompletionChunk, CompletionResult> {
    const prompt = this.chatTemplate.render(messages, true);
    const bos = this.tokenizer.vocab.bos >= 0 ? this.tokenizer.vocab.tokens[this.tokenizer.vocab.bos] : "";
    // Templates that write the BOS themselves must not get a second one.
    return this.complete(prompt, { ...options, parseSpecial: true, addSpecial: options.addSpecial ?? !(bos && prompt.startsWith(bos)) });
  }

  /** Runs `ids` from position 0 in batches (prompt processing) and returns the last position's logits. */
  prefill(ids: readonly number[]): Float32Array {
    if (ids.length === 0 || ids.length > this.contextSize) throw new ContextOverflowError(ids.length, 0, this.contextSize);
    this.history = [];
    let logits: Float32Array | undefined;
    for (let pos = 0; pos < ids.length; pos += this.llama.maxBatch) {
      const chunk = ids.slice(pos, pos + this.llama.maxBatch);
      logits = this.llama.forwardBatch(chunk, pos, false);
      this.history.push(...chunk);
    }
    return logits!;
  }

  /** Runs one token at the next position (decode) and returns its logits. */
  step(id: number): Float32Array {
    if (this.history.length >= this.contextSize) throw new ContextOverflowError(this.history.length, 1, this.contextSize);
    const logits = this.llama.forward(id, this.history.length);
    this.history.push(id);
    return logits;
  }

  /** Forgets the KV cache (the next call starts at position 0). */
  reset(): void {
    this.history = [];
  }

  /** Logits after each of `ids`, fed from position 0 (teacher forcing); returns one copy per position. */
  logits(ids: readonly number[]): Float32Array[] {
    if (ids.length > this.contextSize) throw new ContextOverflowError(ids.length, 0, this.contextSize);
    this.history = [];
    const rows: Float32Array[] = [];
    const nVocab = this.llama.hp.nVocab;
    for (let pos = 0; pos < ids.length; pos += this.llama.maxBatch) {
      const chunk = ids.slice(pos, pos + this.llama.maxBatch);
      const logits = this.llama.forwardBatch(chunk, pos, true);
      chunk.forEach((id, i) => {
        rows.push(logits.slice(i * nVocab, (i + 1) * nVocab));
        this.history.push(id);
      });
    }
    return rows;
  }

  /**
   * Streams a completion of `prompt`. The KV cache keeps the longest common prefix with the previous call,
   * so a follow-up that extends the conversation only processes its new tokens.
   */
  async *complete(prompt: string, options: CompletionOptions = {}): AsyncGenerator<CompletionChunk, CompletionResult> {
    // One KV cache, one sequence: a second completion while one streams would corrupt it.
    if (this.busy) throw new Error("this model is already generating: wait for (or abort) the running completion");
    this.busy = true;
    try {
      return yield* this.generate(prompt, options);
    } finally {
      this.busy = false;
    }
  }

  private async *generate(prompt: string, options: CompletionOptions): AsyncGenerator<CompletionChunk, CompletionResult> {
    const maxTokens = options.maxTokens ?? 256;
    const ids = this.tokenizer.encode(prompt, { addSpecial: options.addSpecial ?? true, parseSpecial: options.parseSpecial ?? false });
    if (ids.length === 0) throw new Error("the prompt has no tokens (and the model adds no BOS)");
    if (ids.length + maxTokens > this.contextSize) throw new ContextOverflowError(ids.length, maxTokens, this.contextSize);
    const sampler = new Sampler(options);
    const signal = options.signal;

    // Reuse the cached prefix; the last prompt token is always run again to get its logits.
    let reuse = 0;
    while (reuse < this.history.length && reuse < ids.length - 1 && this.history[reuse] === ids[reuse]) reuse++;
    this.history.length = reuse;
    const promptStart = performance.now();
    // The prompt goes through in batches: each weight block is loaded once for up to maxBatch tokens.
    let logits: Float32Array | undefined;
    for (let pos = reuse; pos < ids.length; pos += this.llama.maxBatch) {
      if (signal?.aborted) return this.finish("", "abort", ids.length, promptStart, performance.now(), 0);
      const chunk = ids.slice(pos, Math.min(ids.length, pos + this.llama.maxBatch));
      logits = this.llama.forwardBatch(chunk, pos, false);
      this.history.push(...chunk);
      await yieldToEventLoop();
    }
    const genStart = performance.now();
    const decoder = this.tokenizer.streamDecoder();
    const stops = options.stop ?? [];
    let text = "";
    let emitted = 0; // characters of `text` already handed out (held back while they might begin a stop string)
    let generated = 0;
    let reason: CompletionResult["finishReason"] = "length";
    let stoppedByString = false;
    while (generated < maxTokens) {
      if (signal?.aborted) {
        reason = "abort";
        break;
      }
      const token = sampler.sample(logits!, this.history);
      if (this.tokenizer.isEog(token)) {
        reason = "stop";
        break;
      }
      generated++;
      const extra = options.logprobs ? logprobsOf(logits!, token, options.logprobs) : {};
      text += decoder.push(token);
      const stopAt = firstStop(text, stops);
      if (stopAt >= 0) {
        text = text.slice(0, stopAt);
        if (text.length > emitted) yield { text: text.slice(emitted), tokenId: token, ...extra };
        emitted = text.length;
        reason = "stop";
        stoppedByString = true;
        break; // the token never went through the model: the cache (and history) end before it
      }
      const safe = text.length - heldBack(text, stops);
      yield { text: text.slice(emitted, safe), tokenId: token, ...extra };
      emitted = Math.max(emitted, safe);
      logits = this.llama.forward(token, this.history.length);
      this.history.push(token);
      await yieldToEventLoop();
    }
    // Whatever was held back (an incomplete character, the start of a stop string that never came) goes out now.
    if (!stoppedByString) {
      text += decoder.flush();
      if (text.length > emitted) yield { text: text.slice(emitted), tokenId: -1 };
    }
    return this.finish(text, reason, ids.length, promptStart, genStart, generated);
  }

  private finish(text: string, finishReason: CompletionResult["finishReason"], promptTokens: number, promptStart: number, genStart: number, generated: number): CompletionResult {
    const end = performance.now();
    const generationMs = end - genStart;
    return {
      text, finishReason, promptTokens, promptMs: genStart - promptStart, generatedTokens: generated, generationMs,
      tokensPerSecond: generationMs > 0 ? (generated * 1000) / generationMs : 0,
    };
  }

  async close(): Promise<void> {
    await this.pool.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** A token's log-probability and the top-n alternatives, from raw logits (log-sum-exp in double). */
function logprobsOf(logits: Float32Array, token: number, n: number): Pick<CompletionChunk, "logprob" | "top"> {
  let max = -Infinity;
  for (const l of logits) max = Math.max(max, l);
  let sum = 0;
  for (const l of logits) sum += Math.exp(l - max);
  const lse = max + Math.log(sum);
  const order = Array.from({ length: logits.length }, (_, i) => i).sort((a, b) => logits[b] - logits[a] || a - b).slice(0, n);
  return { logprob: logits[token] - lse, top: order.map((i) => ({ tokenId: i, logit: logits[i], logprob: logits[i] - lse })) };
}

/** Index of the first stop string in text, or -1. */
function firstStop(text: string, stops: readonly string[]): number {
  let at = -1;
  for (const s of stops) {
    const i = s ? text.indexOf(s) : -1;
    if (i >= 0 && (at < 0 || i < at)) at = i;
  }
  return at;
}

/** Characters at the end of text that could be the start of a stop string: not emitted yet. */
function heldBack(text: string, stops: readonly string[]): number {
  let n = 0;
  for (const s of stops) for (let k = Math.min(s.length - 1, text.length); k > n; k--) if (text.endsWith(s.slice(0, k))) n = k;
  return n;
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Loads a GGUF model: plans memory (refusing with InsufficientMemoryError when it will not fit), starts the
 * worker pool, and has every thread read its own shard of the weights.
 */
export async function loadModel(path: string, options: LoadOptions = {}): Promise<Model> {
  assertSupportedNode();
  options.signal?.throwIfAborted();
  // The workers boot (module compile, kernels, pinning) while this thread parses the header and vocabulary.
  const plan = planThreads(readTopology(), options.threads);
  const starting = WorkerPool.create({ threads: plan.cpus.length, cpus: options.numa === false ? undefined : plan.cpus });
  let pool: WorkerPool | undefined;
  try {
    const file = readGguf(path);
    const arch = metaString(file, "general.architecture");
    if (arch !== "llama") {
      throw new UnsupportedArchitectureError(`${path}: architecture '${arch}' is not supported yet (supported: llama)`);
    }
    const tokenizer = Tokenizer.fromGguf(file);
    const hp = llamaHparams(file);
    const kvType = kvTypeByName(options.kvCacheType ?? "f16");
    const weightBytes = file.tensors.reduce((n, t) => n + t.nBytes, 0);
    const kvBytesPerToken = 2 * hp.nLayer * ((hp.nKvHead * hp.headDim) / kvType.blockSize) * kvType.typeSize;
    const scratchBytes = 16 * 2 ** 20 + 4 * (hp.nVocab + 8 * Math.max(hp.nEmbd, hp.nFf)) * 8;
    const free = os.freemem();
    // The KV cache lives in one wasm32 memory (4 GiB) with the per-token buffers, for now.
    const arenaTokens = Math.floor((2 ** 32 - 2 ** 27 - scratchBytes) / kvBytesPerToken);
    if (options.contextSize !== undefined && options.contextSize > arenaTokens) {
      throw new RangeError(
        `contextSize ${options.contextSize} needs ${((options.contextSize * kvBytesPerToken) / 2 ** 30).toFixed(2)} GiB of ${kvType.name} KV cache; ` +
          `the cache lives in one 4 GiB WebAssembly memory for now: at most ${arenaTokens} tokens (a q8_0 cache holds more)`,
      );
    }
    // Default context: the trained one, capped so weights, cache and scratch take at most 80% of free memory.
    const budget = Math.floor((free * 0.8 - weightBytes - scratchBytes) / kvBytesPerToken);
    const contextSize = options.contextSize ?? Math.max(1, Math.min(hp.nCtxTrain, budget, arenaTokens));
    const needed = weightBytes + scratchBytes + contextSize * kvBytesPerToken;
    if (needed > free) throw new InsufficientMemoryError(needed, free);

    pool = await starting;
    options.signal?.throwIfAborted();
    const llama = Llama.load(file, pool, { contextSize, kvType, onProgress: options.onProgress });
    return new Model(file, tokenizer, llama, pool);
  } catch (e) {
    await (pool ?? (await starting.catch(() => undefined)))?.close();
    throw e;
  }
}

export { argmax };
