// Messages between the HTTP thread and the engine thread (engineWorker.ts). The engine computes on its own
// thread so that a forward pass never holds the HTTP event loop: health checks, metrics and new connections
// are answered while every slot decodes.
import type { ChatMessage, CompletionChunk, CompletionOptions, CompletionResult, KvCacheType } from "@cpu-llm/engine";

export interface EngineConfig {
  readonly model: string;
  readonly threads?: number;
  readonly contextSize?: number;
  readonly parallel: number;
  readonly cacheTypeK: KvCacheType;
  readonly cacheTypeV: KvCacheType;
  readonly numa: boolean;
  /** Jinja source of a chat template to use instead of the model's (--chat-template-file). */
  readonly chatTemplate?: string;
}

/** What the HTTP side learns once the model is loaded. */
export interface ModelInfo {
  readonly path: string;
  readonly architecture: string;
  readonly name: string;
  readonly sizeBytes: number;
  readonly parameters: number;
  readonly quantization: string;
  readonly contextSize: number;
  readonly trainedContext: number;
  readonly parallel: number;
  readonly threads: number;
  readonly kvBytesPerToken: number;
  readonly cacheBytes: number;
  readonly chatTemplate: string;
  readonly metadata: Record<string, string | number | boolean>;
  readonly loadMs: number;
  /** One line about the machine and the plan, printed at start. */
  readonly systemLine: string;
}

/** The sampling and stopping options a request may set (no AbortSignal: aborts are messages). */
export type GenerationOptions = Omit<CompletionOptions, "signal">;

export type GenerateRequest =
  | { readonly kind: "chat"; readonly messages: readonly ChatMessage[]; readonly options: GenerationOptions }
  | { readonly kind: "complete"; readonly prompt: string; readonly options: GenerationOptions };

export interface Timings {
  /** Prompt tokens computed (not found in the slot's cache). */
  readonly prompt_n: number;
  readonly prompt_ms: number;
  readonly predicted_n: number;
  readonly predicted_ms: number;
  readonly predicted_per_second: number;
  /** Prompt tokens reused from the slot's cache. */
  readonly cache_n: number;
}

export type ToEngine =
  | { readonly type: "generate"; readonly id: number; readonly request: GenerateRequest }
  | { readonly type: "abort"; readonly id: number }
  | { readonly type: "shutdown" };

export interface EngineError {
  readonly name: string;
  readonly message: string;
  readonly promptTokens?: number;
  readonly maxTokens?: number;
  readonly contextSize?: number;
}

export type FromEngine =
  | { readonly type: "progress"; readonly fraction: number }
  | { readonly type: "ready"; readonly info: ModelInfo }
  | { readonly type: "failed"; readonly error: EngineError }
  | { readonly type: "started"; readonly id: number; readonly slot: number; readonly promptTokens: number }
  | { readonly type: "chunk"; readonly id: number; readonly chunk: CompletionChunk }
  | { readonly type: "done"; readonly id: number; readonly result: CompletionResult; readonly timings: Timings }
  | { readonly type: "error"; readonly id: number; readonly error: EngineError };
