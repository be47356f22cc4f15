// Continuous batching: every sequence of a context that wants tokens run submits them here, and each engine step
// gathers one batch from all of them — the next token of every decoding sequence first, then chunks of prompts
// still being read, up to the model's batch size — and runs it as one forward pass. A long prompt is read over
// several steps, so decoding sequences get a token every step; sequences join and leave between steps.
//
// A step runs in its own macrotask (setImmediate): between steps the event loop is free, and every sequence that
// got its logits has sampled and submitted its next token (microtasks) before the next step gathers rows.
import type { KvCache } from "@cpu-llm/kernels";
import type { BatchRow } from "../arch/pass.js";
import type { Transformer } from "../arch/transformer.js";

interface Request {
  readonly sequence: number;
  readonly tokens: readonly number[];
  /** Position of tokens[0] in the sequence. */
  readonly start: number;
  /** Tokens already run. */
  done: number;
  readonly allLogits: boolean;
  readonly rows: Float32Array[];
  readonly signal: AbortSignal | undefined;
  /** Told after each step which of its tokens are now in the cache. */
  readonly onProgress: (tokens: readonly number[]) => void;
  readonly resolve: (rows: Float32Array[] | undefined) => void;
  readonly reject: (error: unknown) => void;
}

export interface EvalOptions {
  /** Logits of every token (teacher forcing), not only of the last. */
  readonly allLogits?: boolean;
  /** Drops the tokens not yet run; the promise then resolves to undefined. */
  readonly signal?: AbortSignal;
  /** Hears each chunk of tokens as it lands in the cache (the sequence keeps its history with it). */
  readonly onProgress: (tokens: readonly number[]) => void;
}

export class Scheduler {
  private queue: Request[] = [];
  private scheduled = false;
  /** Forward passes run and rows they held, for benchmarks and tests. */
  readonly stats = { steps: 0, rows: 0 };

  constructor(
    private readonly model: Transformer,
    private readonly cache: KvCache,
  ) {}

  /**
   * Runs `tokens` of a sequence from position `start` and resolves with copies of the logits of the last token
   * (or of every token with allLogits), or undefined when the signal aborted first. One request per sequence at
   * a time: the caller (Sequence) guarantees it.
   */
  eval(sequence: number, start: number, tokens: readonly number[], options: EvalOptions): Promise<Float32Array[] | undefined> {
    return new Promise((resolve, reject) => {
      this.queue.push({
        sequence, tokens, start, done: 0, allLogits: options.allLogits ?? false, rows: [], signal: options.signal,
        onProgress: options.onProgress, resolve, reject,
      });
      this.schedule();
    });
  }

  /** Drops a sequence's pending request (its promise resolves to undefined). */
  cancel(sequence: number): void {
    for (const r of this.queue.filter((q) => q.sequence === sequence)) r.resolve(undefined);
    this.queue = this.queue.filter((q) => q.sequence !== sequence);
  }

  private schedule(): void {
    if (this.scheduled || this.queue.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.step();
      this.schedule();
    });
  }

  /** One forward pass over rows gathered from every pending request. */
  private step(): void {
    for (const r of this.queue.filter((q) => q.signal?.aborted)) r.resolve(undefined);
    this.queue = this.queue.filter((q) => !q.signal?.aborted);
    if (this.queue.length === 0) return;
    // Decoding sequences (one token left) first, then prompt chunks in arrival order, up to the batch size.
    const order = [...this.queue.filter((q) => q.tokens.length - q.done === 1), ...this.queue.filter((q) => q.tokens.length - q.done > 1)];
    const rows: BatchRow[] = [];
    const taken: { request: Request; n: number }[] = [];
    for (const request of order) {
      const left = request.tokens.length - request.done;
      let n = Math.min(left, this.model.maxBatch - rows.length);
      if (n <= 0) break;
      // A prompt is read in chunks of two rows or more, never one: llama.cpp's attention sums a batch of
      // several rows in another order than a lone row (kernels' accumulateRowsF32Tiled), so every row of a
      // prompt gets the batch order whatever else shares the step, and only decoding rows run alone.
      if (left > 1 && this.model.maxBatch > 1) {
        if (left - n === 1) n--;
        if (n < 2) continue;
      }
      for (let i = request.done; i < request.done + n; i++) {
        const last = i === request.tokens.length - 1;
        rows.push({ token: request.tokens[i], sequence: request.sequence, position: request.start + i, logits: request.allLogits || last });
      }
      taken.push({ request, n });
    }
    let logits: Float32Array;
    try {
      logits = this.model.forward(this.cache, rows);
    } catch (e) {
      for (const { request } of taken) request.reject(e);
      this.queue = this.queue.filter((q) => !taken.some((t) => t.request === q));
      return;
    }
    this.stats.steps++;
    this.stats.rows += rows.length;
    const nVocab = this.model.hp.nVocab;
    let row = 0;
    for (const { request, n } of taken) {
      const wanted = request.allLogits ? n : request.done + n === request.tokens.length ? 1 : 0;
      for (let i = 0; i < wanted; i++, row++) request.rows.push(logits.slice(row * nVocab, (row + 1) * nVocab));
      request.onProgress(request.tokens.slice(request.done, request.done + n));
      request.done += n;
      if (request.done === request.tokens.length) {
        this.queue.splice(this.queue.indexOf(request), 1);
        request.resolve(request.rows);
      }
    }
  }
}
