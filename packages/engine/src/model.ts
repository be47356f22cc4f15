// The public face: `const model = await loadModel(path)`, then `model.complete(prompt)` streams chunks, or
// `model.createContext({ sequences: 4 })` for several conversations decoded together.
import * as os from "node:os";
import { DEFAULT_KV_CACHE_TYPE, kvTypeByName, planThreads, readTopology, WorkerPool, type KvCacheType } from "@cpu-llm/kernels";
import { modelHparams, Transformer } from "./arch/transformer.js";
import { ChatTemplate, type ChatMessage } from "./chat/chatTemplate.js";
import { Context, type ContextOptions } from "./context.js";
import { DisposedError } from "./errors.js";
import { collectGarbage } from "./collectGarbage.js";
import { kvBytesPerToken, scratchBytesEstimate } from "./memoryEstimate.js";
import { checkNumber, checkOptions, threadsRule } from "./options.js";
import { readGguf, type GgufFile } from "./gguf/readGguf.js";
import { assertSupportedNode } from "./nodeVersion.js";
import { describeMachine, type Machine } from "./runtime/machine.js";
import { planContextSize } from "./runtime/memoryPlan.js";
import { Scheduler } from "./runtime/scheduler.js";
import { argmax } from "./sampling/samplerChain.js";
import type { CompletionChunk, CompletionOptions, CompletionResult, Sequence } from "./sequence.js";
import { Tokenizer } from "./tokenizer/tokenizer.js";

export interface LoadOptions {
  /** Threads for the matrix products, main thread included. Default: one per allowed physical core within the CPU quota. */
  threads?: number;
  /** Tokens of context of the default context (the one `model.complete` uses). Default: the trained one, capped by free memory. */
  contextSize?: number;
  /** KV cache element type of the default context and of createContext's. Default DEFAULT_KV_CACHE_TYPE. */
  kvCacheType?: KvCacheType;
  /** Called as the weights are read, with the fraction read so far (0 to 1). */
  onProgress?: (fraction: number) => void;
  /** Pin threads to cores, grouped by NUMA node (each reads its own weight shard there). Default true. */
  numa?: boolean;
  /**
   * Pin the calling thread to the first planned CPU as well (it computes its share of every product). Only for a
   * thread that does nothing but run the engine, such as a worker thread of its own (engine-serve's): an
   * application's main thread must stay free to run elsewhere. Default false.
   */
  pinCallingThread?: boolean;
  /**
   * A chat template to use instead of the file's own (Jinja source, as llama-server's --chat-template-file
   * reads, or a built-in's name: chatml, llama3, …): for files whose template is missing or lacks a tools section.
   */
  chatTemplate?: string;
  /** Aborts loading. */
  signal?: AbortSignal;
}

export class Model {
  private template: ChatTemplate | undefined;
  private readonly contexts = new Set<Context>();
  private defaultContext: Context | undefined;
  private defaultSequence: Sequence | undefined;
  private closed = false;
  /** The weights and the threads: dropped at close, so their memories go even while the Model is referenced. */
  private engine: { readonly transformer: Transformer; readonly pool: WorkerPool } | undefined;
  /** Threads doing the matrix products, the main thread included. */
  readonly threads: number;
  /** Most rows (tokens of all sequences together) one forward pass takes. */
  readonly batchSize: number;

  /** @internal Models come from loadModel(). */
  constructor(
    readonly file: GgufFile,
    readonly tokenizer: Tokenizer,
    transformer: Transformer,
    pool: WorkerPool,
    private readonly defaults: { readonly contextSize: number; readonly kvCacheType: KvCacheType; readonly chatTemplate?: string },
    /** The threads this model runs on and the machine they are on. */
    readonly machine: Machine,
  ) {
    this.engine = { transformer, pool };
    this.threads = pool.threads;
    this.batchSize = transformer.maxBatch;
  }

  private get transformer(): Transformer {
    if (!this.engine) throw new DisposedError("this model");
    return this.engine.transformer;
  }

  /** The context the model was trained for (`{arch}.context_length`): createContext's default, memory permitting. */
  get trainedContextSize(): number {
    return this.transformer.hp.nCtxTrain;
  }

  /** Tokens of context of the default context (the one `complete`, `chat`, `prefill`, … use). */
  get contextSize(): number {
    return this.defaults.contextSize;
  }

  /** Bytes of KV cache one token of one sequence takes with these key and value types. */
  kvBytesPerToken(cacheTypeK: KvCacheType = this.defaults.kvCacheType, cacheTypeV: KvCacheType = cacheTypeK): number {
    return kvBytesPerToken(this.transformer.cacheShape(), cacheTypeK, cacheTypeV);
  }

  tokenize(text: string, options?: { addSpecial?: boolean; parseSpecial?: boolean }): number[] {
    return this.tokenizer.encode(text, options);
  }

  detokenize(ids: readonly number[]): string {
    return this.tokenizer.decode(ids);
  }

  /** The model's chat template (LoadOptions.chatTemplate, else its own `tokenizer.chat_template`, else a built-in one). */
  get chatTemplate(): ChatTemplate {
    return (this.template ??= ChatTemplate.fromGguf(this.file, this.tokenizer, this.defaults.chatTemplate));
  }

  /**
   * A KV cache for `sequences` conversations of `contextSize` tokens each, on these weights. Its sequences are
   * decoded together: every step runs one token of each decoding sequence (and prompt chunks) as one batch.
   * InsufficientMemoryError when it cannot fit, RangeError for impossible sizes; both before anything is allocated.
   */
  createContext(options: ContextOptions = {}): Context {
    if (this.closed) throw new DisposedError("this model");
    checkOptions(options);
    const k = options.cacheTypeK ?? options.kvCacheType ?? this.defaults.kvCacheType;
    const v = options.cacheTypeV ?? options.kvCacheType ?? this.defaults.kvCacheType;
    const [keyType, valueType] = [kvTypeByName(k), kvTypeByName(v)];
    const sequences = options.sequences ?? 1;
    const contextSize = planContextSize({
      bytesPerToken: kvBytesPerToken(this.transformer.cacheShape(), k, v), sequences, requested: options.contextSize,
      trained: this.transformer.hp.nCtxTrain, freeBytes: os.freemem(), otherBytes: 0,
    });
    const cache = this.transformer.createCache({ sequences, contextSize, keyType, valueType });
    const context = new Context(this.tokenizer, () => this.chatTemplate, cache, (c) => new Scheduler(this.transformer, c));
    this.contexts.add(context);
    return context;
  }

  /** The default context's one sequence, made at first use. */
  private get sequence(): Sequence {
    this.defaultContext ??= this.createContext({ sequences: 1, ...this.defaults });
    return (this.defaultSequence ??= this.defaultContext.getSequence());
  }

  /** Streams the reply to a conversation on the default sequence (see Sequence.chat). */
  chat(messages: readonly ChatMessage[], options: CompletionOptions = {}): AsyncGenerator<CompletionChunk, CompletionResult> {
    return this.sequence.chat(messages, options);
  }

  /** Streams a completion on the default sequence (see Sequence.complete); one at a time. */
  complete(prompt: string, options: CompletionOptions = {}): AsyncGenerator<CompletionChunk, CompletionResult> {
    return this.sequence.complete(prompt, options);
  }

  /** Runs `ids` from position 0 on the default sequence and returns the last position's logits. */
  prefill(ids: readonly number[]): Promise<Float32Array> {
    return this.sequence.prefill(ids);
  }

  /** Runs one token at the default sequence's next position and returns its logits. */
  step(id: number): Promise<Float32Array> {
    return this.sequence.step(id);
  }

  /** Runs tokens after those in the default sequence's cache and returns the last one's logits. */
  append(ids: readonly number[]): Promise<Float32Array> {
    return this.sequence.append(ids);
  }

  /** Forgets the default sequence's cache. */
  reset(): void {
    this.sequence.reset();
  }

  /** Logits after each of `ids` from position 0 on the default sequence (teacher forcing). */
  logits(ids: readonly number[]): Promise<Float32Array[]> {
    return this.sequence.logits(ids);
  }

  /**
   * Ends every context and sequence, stops the threads and releases the weights' and caches' memory now: the
   * model lets go of them and a full garbage collection runs (WebAssembly memories are freed only by one, and
   * V8 does not count them as pressure: four load/close cycles of a 1B model otherwise left 2.8 GiB resident).
   * A context or sequence the application still holds keeps its cache.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // No local of this frame may hold a context or the pool across the collection (a heap snapshot found the
    // loop variable of a `for … of` over the contexts keeping a cache alive), hence letGo's own frame.
    await this.letGo();
    collectGarbage();
  }

  /** Disposes every context and drops the engine; resolves when the threads have stopped. */
  private letGo(): Promise<void> {
    for (const c of this.contexts) c.dispose();
    this.contexts.clear();
    this.defaultContext = this.defaultSequence = undefined;
    const stopped = this.engine?.pool.close() ?? Promise.resolve();
    this.engine = undefined;
    return stopped;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Loads a GGUF model: plans memory (refusing with InsufficientMemoryError when the weights and the default
 * context will not fit), starts the worker pool, and has every thread read its own shard of the weights.
 */
export async function loadModel(path: string, options: LoadOptions = {}): Promise<Model> {
  assertSupportedNode();
  checkOptions(options);
  options.signal?.throwIfAborted();
  if (options.chatTemplate !== undefined) new ChatTemplate(options.chatTemplate, "", ""); // a ChatTemplateError now, not at the first chat
  // The workers boot (module compile, kernels, pinning) while this thread parses the header and vocabulary.
  const topology = readTopology();
  if (options.threads !== undefined) checkNumber(options.threads, threadsRule(topology), "threads");
  const plan = planThreads(topology, options.threads);
  const starting = WorkerPool.create({
    threads: plan.cpus.length, cpus: options.numa === false ? undefined : plan.cpus, pinCaller: options.pinCallingThread && options.numa !== false,
  });
  let pool: WorkerPool | undefined;
  try {
    const file = readGguf(path);
    const hp = modelHparams(file); // UnsupportedArchitectureError before anything else is read
    const tokenizer = Tokenizer.fromGguf(file);
    const kvCacheType = options.kvCacheType ?? DEFAULT_KV_CACHE_TYPE;
    const weightBytes = file.tensors.reduce((n, t) => n + t.nBytes, 0);
    const scratchBytes = scratchBytesEstimate(hp);
    const contextSize = planContextSize({
      bytesPerToken: kvBytesPerToken(hp, kvCacheType), sequences: 1,
      requested: options.contextSize, trained: hp.nCtxTrain, freeBytes: os.freemem(), otherBytes: weightBytes + scratchBytes,
    });
    pool = await starting;
    options.signal?.throwIfAborted();
    const transformer = Transformer.load(file, pool, { onProgress: options.onProgress });
    return new Model(file, tokenizer, transformer, pool, { contextSize, kvCacheType, chatTemplate: options.chatTemplate }, describeMachine(topology, plan));
  } catch (e) {
    await (pool ?? (await starting.catch(() => undefined)))?.close();
    throw e;
  }
}

export { argmax };
