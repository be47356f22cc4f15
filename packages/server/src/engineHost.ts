// The HTTP thread's handle on the engine thread: starts it, follows its loading, and turns each request into a
// stream of events (started, chunk…, done | error) that the routes translate. Counts what the metrics report.
import { Worker } from "node:worker_threads";
import type { EngineConfig, EngineError, FromEngine, GenerateRequest, ModelInfo, Timings, ToEngine } from "./protocol.js";
import type { CompletionChunk, CompletionResult } from "@cpu-llm/engine";

export type GenerationEvent =
  | { readonly type: "started"; readonly slot: number; readonly promptTokens: number }
  | { readonly type: "chunk"; readonly chunk: CompletionChunk }
  | { readonly type: "done"; readonly result: CompletionResult; readonly timings: Timings }
  | { readonly type: "error"; readonly error: EngineError };

/** One request's events, in order; abort() asks the engine to stop it (the stream then ends with done or error). */
export interface Generation extends AsyncIterable<GenerationEvent> {
  next(): Promise<GenerationEvent>;
  abort(): void;
}

export interface EngineCounters {
  promptTokens: number;
  promptSeconds: number;
  predictedTokens: number;
  predictedSeconds: number;
  requests: number;
  /** Requests on a slot now. */
  processing: number;
  /** Requests waiting for a slot now. */
  deferred: number;
}

export class EngineHost {
  state: "loading" | "ready" | "failed" = "loading";
  progress = 0;
  info: ModelInfo | undefined;
  failure: EngineError | undefined;
  readonly counters: EngineCounters = { promptTokens: 0, promptSeconds: 0, predictedTokens: 0, predictedSeconds: 0, requests: 0, processing: 0, deferred: 0 };
  readonly ready: Promise<ModelInfo>;
  private readonly worker: Worker;
  private readonly streams = new Map<number, { push: (e: GenerationEvent) => void; started: boolean }>();
  private nextId = 1;

  constructor(config: EngineConfig) {
    this.worker = new Worker(new URL("./engineWorker.js", import.meta.url), { workerData: config });
    this.ready = new Promise((resolve, reject) => {
      this.worker.on("message", (m: FromEngine) => {
        if (m.type === "progress") this.progress = m.fraction;
        else if (m.type === "ready") {
          this.state = "ready";
          this.progress = 1;
          this.info = m.info;
          resolve(m.info);
        } else if (m.type === "failed") {
          this.state = "failed";
          this.failure = m.error;
          reject(Object.assign(new Error(m.error.message), { name: m.error.name }));
        } else this.route(m);
      });
      this.worker.on("error", (e) => {
        this.state = "failed";
        this.failure = { name: e.name, message: e.message };
        reject(e);
        for (const s of this.streams.values()) s.push({ type: "error", error: this.failure });
        this.streams.clear();
      });
    });
    this.ready.catch(() => {});
  }

  /** Requests sent to the engine and not finished (on a slot or waiting for one). */
  get active(): number {
    return this.streams.size;
  }

  generate(request: GenerateRequest): Generation {
    const id = this.nextId++;
    const queue: GenerationEvent[] = [];
    let wake: (() => void) | undefined;
    let ended = false;
    this.streams.set(id, {
      started: false,
      push: (e) => {
        queue.push(e);
        wake?.();
      },
    });
    this.counters.deferred++;
    this.counters.requests++;
    this.post({ type: "generate", id, request });
    const next = async (): Promise<GenerationEvent> => {
      while (queue.length === 0) await new Promise<void>((r) => (wake = r));
      wake = undefined;
      return queue.shift()!;
    };
    return {
      next,
      abort: () => {
        if (!ended && this.streams.has(id)) this.post({ type: "abort", id });
      },
      async *[Symbol.asyncIterator]() {
        for (;;) {
          const e = await next();
          yield e;
          if (e.type === "done" || e.type === "error") {
            ended = true;
            return;
          }
        }
      },
    };
  }

  private route(m: Exclude<FromEngine, { type: "progress" | "ready" | "failed" }>): void {
    const stream = this.streams.get(m.id);
    if (!stream) return;
    if (m.type === "started") {
      stream.started = true;
      this.counters.deferred--;
      this.counters.processing++;
      stream.push({ type: "started", slot: m.slot, promptTokens: m.promptTokens });
      return;
    }
    if (m.type === "chunk") {
      stream.push({ type: "chunk", chunk: m.chunk });
      return;
    }
    this.streams.delete(m.id);
    if (stream.started) this.counters.processing--;
    else this.counters.deferred--;
    if (m.type === "done") {
      this.counters.promptTokens += m.timings.prompt_n;
      this.counters.promptSeconds += m.timings.prompt_ms / 1000;
      this.counters.predictedTokens += m.timings.predicted_n;
      this.counters.predictedSeconds += m.timings.predicted_ms / 1000;
      stream.push({ type: "done", result: m.result, timings: m.timings });
    } else stream.push({ type: "error", error: m.error });
  }

  private post(m: ToEngine): void {
    this.worker.postMessage(m);
  }

  /** Stops every request and the engine thread. */
  async close(): Promise<void> {
    const exited = new Promise((r) => this.worker.once("exit", r));
    this.post({ type: "shutdown" });
    const timer = setTimeout(() => void this.worker.terminate(), 5000);
    await exited;
    clearTimeout(timer);
  }
}
