// The memory a model takes beyond its weights, estimated from its header before anything is read: loadModel
// plans with these figures and `cpu-llm inspect` reports them, so the two cannot disagree.
import { KvCache, kvTypeByName, type KvCacheType } from "@cpu-llm/kernels";
import type { Hparams } from "./arch/hparams.js";

/** Rows of a forward pass the scratch is sized for (the scheduler's batch). */
const SCRATCH_ROWS = 32;

/**
 * Activations of one forward pass: the logits of its rows and eight vectors of the widest width per row, plus
 * 16 MiB for the kernels' own scratch.
 */
export function scratchBytesEstimate(hp: Pick<Hparams, "nVocab" | "nEmbd" | "nFf">): number {
  return 16 * 2 ** 20 + 4 * (hp.nVocab + 8 * Math.max(hp.nEmbd, hp.nFf)) * SCRATCH_ROWS;
}

type CacheShape = Omit<Parameters<typeof KvCache.bytesPerToken>[0], "keyType" | "valueType">;

/** Bytes of KV cache per token of one sequence, as KvCache lays it out for a model of this cache shape. */
export function kvBytesPerToken(shape: CacheShape, keyType: KvCacheType, valueType: KvCacheType = keyType): number {
  return KvCache.bytesPerToken({ ...shape, keyType: kvTypeByName(keyType), valueType: kvTypeByName(valueType) });
}
