// Attention of one query position over a sequence's KV cache, on one thread's kernels: for each head,
// scores = K·q (the weight type's matvec kernel: an integer dot when K is Q8_0, after quantizing q like any
// activation), softmax(scores · scale), then out = Σ p_t V_t. Grouped-query heads share a KV head.
import { ACTIVATION_TYPES, type GgmlTypeTraits } from "./ggmlTypes.js";
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

/** Scratch offsets (in the same arena): the converted query head, its scales, and nPos scores. */
export interface AttentionScratch {
  readonly query: number;
  readonly queryScales: number;
  readonly scores: number;
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

/** out (nHead × headDim floats) = attention of q (nHead × headDim floats) over K and V. */
export function attend(
  k: KernelExports, out: number, q: number, shape: AttentionShape, keys: KvTensor, values: KvTensor, scratch: AttentionScratch,
): void {
  const { nHead, nKvHead, headDim, nPos, scale } = shape;
  const group = nHead / nKvHead;
  const activation = ACTIVATION_TYPES[keys.type.vecDotType!];
  const kernels = k as unknown as Record<string, (...a: number[]) => number>;
  const matvec = kernels[keys.type.matvec!];
  const accumulate = kernels[values.type.accumulateRows!];
  const convert = kernels[activation.convert];
  for (let h = 0; h < nHead; h++) {
    const g = Math.floor(h / group);
    convert(scratch.query, scratch.queryScales, q + h * headDim * 4, headDim);
    matvec(scratch.scores, keys.offset + g * keys.headBytes, keys.rowBytes, scratch.query, scratch.queryScales, headDim / keys.type.blockSize, 0, nPos);
    k.softmax(scratch.scores, nPos, scale);
    accumulate(out + h * headDim * 4, scratch.scores, values.offset + g * values.headBytes, values.rowBytes, nPos, headDim);
  }
}
