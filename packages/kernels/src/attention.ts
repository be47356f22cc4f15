// Attention of one query position over a sequence's KV cache, on one thread's kernels: for each head,
// scores = K·q (the weight type's matvec kernel: an integer dot when K is Q8_0, after quantizing q like any
// activation), softmax(scores · scale), then out = Σ p_t V_t. Grouped-query heads share a KV head.
import { ACTIVATION_TYPES, ggmlType, type GgmlTypeTraits } from "./ggmlTypes.js";
import type { KernelExports } from "./wasm/wasmKernels.js";

/** Where one layer's keys or values live in an arena: position t, KV head g at offset + t·rowBytes + g·headBytes. */
export interface KvTensor {
  readonly type: GgmlTypeTraits;
  readonly offset: number;
  /** Bytes between positions. */
  readonly rowBytes: number;
  /** Bytes between KV heads within a position. */
  readonly headBytes: number;
}

/** Scratch offsets (in the same arena): the converted query heads, their scales, scores, and partial sums. */
export interface AttentionScratch {
  /** nHead × headDim × 4 bytes. */
  readonly query: number;
  readonly queryScales: number;
  /** nHead × nPos floats. */
  readonly scores: number;
  /** 16 × (nHead / nKvHead) bytes. */
  readonly partial: number;
}

export interface AttentionShape {
  readonly nHead: number;
  readonly nKvHead: number;
  readonly headDim: number;
  /** Positions to attend to (the cache's filled length, this one included). */
  readonly nPos: number;
  /** Usually 1/sqrt(headDim). */
  readonly scale: number;
}

/**
 * out (nHead × headDim floats) = attention of q (nHead × headDim floats) over K and V, for the query heads of
 * KV heads [g0, g1) (all by default): threads splitting the heads write disjoint parts of out.
 */
export function attend(
  k: KernelExports, out: number, q: number, shape: AttentionShape, keys: KvTensor, values: KvTensor, scratch: AttentionScratch,
  g0 = 0, g1 = shape.nKvHead,
): void {
  const { nHead, nKvHead, headDim, nPos, scale } = shape;
  const group = nHead / nKvHead;
  const kernels = k as unknown as Record<string, (...a: number[]) => number>;
  for (let g = g0; g < g1; g++) {
    const h0 = g * group;
    const scores = scratch.scores + h0 * nPos * 4;
    const kv = keys.offset + g * keys.headBytes;
    if (keys.type.scoresGroup) {
      // The heads of a group read each key row once (F16: one conversion for all of them).
      k.roundToF16(scratch.query, q + h0 * headDim * 4, group * headDim);
      kernels[keys.type.scoresGroup](scores, scratch.query, kv, keys.rowBytes, nPos, headDim, group, scratch.partial);
    } else {
      const activation = ACTIVATION_TYPES[keys.type.vecDotType!];
      for (let i = 0; i < group; i++) {
        kernels[activation.convert](scratch.query, scratch.queryScales, q + (h0 + i) * headDim * 4, headDim);
        kernels[keys.type.matvec!](scores + i * nPos * 4, kv, keys.rowBytes, scratch.query, scratch.queryScales, headDim / keys.type.blockSize, 0, nPos);
      }
    }
    for (let i = 0; i < group; i++) k.softmax(scores + i * nPos * 4, nPos, scale);
    const vv = values.offset + g * values.headBytes;
    if (values.type.accumulateGroup) {
      kernels[values.type.accumulateGroup](out + h0 * headDim * 4, scores, vv, values.rowBytes, nPos, headDim, group);
    } else {
      for (let i = 0; i < group; i++) {
        kernels[values.type.accumulateRows!](out + (h0 + i) * headDim * 4, scores + i * nPos * 4, vv, values.rowBytes, nPos, headDim);
      }
    }
  }
}

/**
 * Causal attention of n consecutive tokens (positions pos0 … pos0 + n - 1, their q and out rows `stride` bytes
 * apart) for KV heads [g0, g1): one thread's share of a batch. Plain data, so it can be posted to a worker.
 */
export interface AttentionJob {
  readonly out: number;
  readonly q: number;
  readonly stride: number;
  readonly pos0: number;
  readonly n: number;
  readonly shape: Omit<AttentionShape, "nPos">;
  /** KvTensor with the type given by its ggml id. */
  readonly keys: Omit<KvTensor, "type"> & { readonly type: number };
  readonly values: Omit<KvTensor, "type"> & { readonly type: number };
  readonly scratch: AttentionScratch;
  readonly g0: number;
  readonly g1: number;
}

export function attentionJob(
  out: number, q: number, stride: number, pos0: number, n: number, shape: Omit<AttentionShape, "nPos">,
  keys: KvTensor, values: KvTensor, scratch: AttentionScratch, g0: number, g1: number,
): AttentionJob {
  return { out, q, stride, pos0, n, shape, keys: { ...keys, type: keys.type.id }, values: { ...values, type: values.type.id }, scratch, g0, g1 };
}

export function runAttentionJob(k: KernelExports, job: AttentionJob): void {
  const keys = { ...job.keys, type: ggmlType(job.keys.type)! };
  const values = { ...job.values, type: ggmlType(job.values.type)! };
  for (let i = 0; i < job.n; i++) {
    const shape = { ...job.shape, nPos: job.pos0 + i + 1 };
    attend(k, job.out + i * job.stride, job.q + i * job.stride, shape, keys, values, job.scratch, job.g0, job.g1);
  }
}
