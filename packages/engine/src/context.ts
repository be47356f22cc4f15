// A context: one KV cache on a model's weights, holding `sequences` conversations of `contextSize` tokens each,
// and the scheduler that runs all of them in one batch per step. node-llama-cpp's shape: loadModel → createContext
// → getSequence → complete/chat.
import type { KvCache, KvCacheType } from "@cpu-llm/kernels";
import type { ChatTemplate } from "./chat/chatTemplate.js";
import { NoFreeSequenceError, DisposedError } from "./errors.js";
import { Scheduler } from "./runtime/scheduler.js";
import { Sequence, type SequenceHost } from "./sequence.js";
import type { Tokenizer } from "./tokenizer/tokenizer.js";

export interface ContextOptions {
  /** Sequences (conversations) decoded together. Default 1. */
  sequences?: number;
  /**
   * Tokens of context for EACH sequence (its own run of KV cells). Default: the model's trained context, capped
   * so the cache takes at most 80% of free memory.
   */
  contextSize?: number;
  /** KV cache element type, keys and values. Default: the model's (loadModel's kvCacheType). */
  kvCacheType?: KvCacheType;
  /** Element type of the keys alone (llama.cpp's --cache-type-k). Default: kvCacheType. */
  cacheTypeK?: KvCacheType;
  /** Element type of the values alone (llama.cpp's --cache-type-v). Default: kvCacheType. */
  cacheTypeV?: KvCacheType;
}

export class Context implements SequenceHost {
  readonly scheduler: Scheduler;
  private readonly inUse: (Sequence | undefined)[];
  private disposed = false;

  /** @internal Contexts come from Model.createContext(). */
  constructor(
    readonly tokenizer: Tokenizer,
    private readonly template: () => ChatTemplate,
    private readonly cache: KvCache,
    scheduler: (cache: KvCache) => Scheduler,
  ) {
    this.scheduler = scheduler(cache);
    this.inUse = Array.from({ length: cache.layout.sequences });
  }

  /** Sequences this context holds. */
  get sequences(): number {
    return this.cache.layout.sequences;
  }

  /** Tokens of context per sequence. */
  get contextSize(): number {
    return this.cache.layout.contextSize;
  }

  /** Element types of the keys and of the values. */
  get cacheTypes(): { readonly k: KvCacheType; readonly v: KvCacheType } {
    return { k: this.cache.layout.keyType.name as KvCacheType, v: this.cache.layout.valueType.name as KvCacheType };
  }

  /** Bytes of the KV cache (all sequences, every thread's share) with its attention scratch. */
  get cacheBytes(): number {
    return this.cache.bytes;
  }

  get chatTemplate(): ChatTemplate {
    return this.template();
  }

  /** Sequences not handed out. */
  get freeSequences(): number {
    return this.inUse.filter((s) => !s).length;
  }

  /** A free sequence, starting empty; NoFreeSequenceError when all are in use. */
  getSequence(): Sequence {
    if (this.disposed) throw new DisposedError("this context");
    const id = this.inUse.findIndex((s) => !s);
    if (id < 0) throw new NoFreeSequenceError(this.sequences);
    return (this.inUse[id] = new Sequence(this, id));
  }

  /** @internal */
  copyCells(from: number, to: number, length: number): void {
    this.cache.copyCells(from, to, length);
  }

  /** @internal A disposed sequence frees its cells for the next getSequence(). */
  release(sequence: Sequence): void {
    if (this.inUse[sequence.id] === sequence) this.inUse[sequence.id] = undefined;
  }

  /** Ends every sequence (running completions finish with "abort"). The cache's memory goes with the model's pool. */
  dispose(): void {
    if (this.disposed) return;
    for (const s of this.inUse) s?.dispose();
    this.disposed = true;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
