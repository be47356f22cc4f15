// The one memory estimate for a context's KV cache: how many tokens it gets by default and whether it fits.
import { InsufficientMemoryError } from "../errors.js";

export interface ContextPlanInput {
  /** KvCache.bytesPerToken for the model and cache type. */
  readonly bytesPerToken: number;
  readonly sequences: number;
  /** Cells per sequence asked for; default: the trained context, capped so everything takes ≤ 80% of free memory. */
  readonly requested?: number;
  /** The model's trained context (`{arch}.context_length`). */
  readonly trained: number;
  readonly freeBytes: number;
  /** Bytes that will be resident besides the cache (weights not read yet, scratch). */
  readonly otherBytes: number;
}

/** Cells per sequence for a context; InsufficientMemoryError (with the numbers) when they cannot fit. */
export function planContextSize(p: ContextPlanInput): number {
  if (p.requested !== undefined && !(Number.isInteger(p.requested) && p.requested >= 1)) {
    throw new RangeError(`contextSize must be a whole number ≥ 1, got ${p.requested}`);
  }
  if (!(Number.isInteger(p.sequences) && p.sequences >= 1)) throw new RangeError(`sequences must be a whole number ≥ 1, got ${p.sequences}`);
  const perToken = p.bytesPerToken * p.sequences;
  const budget = Math.floor((p.freeBytes * 0.8 - p.otherBytes) / perToken);
  const size = p.requested ?? Math.max(1, Math.min(p.trained, budget));
  const needed = p.otherBytes + size * perToken;
  if (needed > p.freeBytes) throw new InsufficientMemoryError(needed, p.freeBytes, `a context of ${p.sequences} × ${size} tokens`);
  return size;
}
