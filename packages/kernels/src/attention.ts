// Attention of one query position over a sequence's KV cache, on one thread's kernels: for each head,
// scores = K·q (the weight type's matvec kernel: an integer dot when K is Q8_0, after quantizing q like any
// activation), softmax(scores · scale), then out = Σ p_t V_t. Grouped-query heads share a KV head.
import type { WasmMemory } from "./wasm/wasmTypes.js";
import { activationOf, ggmlType, type GgmlTypeTraits } from "./ggmlTypes.js";
import type { KernelExports } from "./wasm/kernelTable.js";

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
  /** ALiBi: a slope per query head (Baichuan 13B), added as slope · -(distance) to its scores; none when absent. */
  readonly slopes?: Float32Array;
  /** Values per head, and so outputs per query head (MLA: the latent's width); headDim when absent. */
  readonly valueDim?: number;
  /**
   * The query's sequence has other rows in this batch (a prompt read in one step). llama.cpp's ·V then has
   * several query columns and sums in tinyBLAS's order; a lone decoding row sums in ggml_vec_dot's. We decide
   * per sequence, so a sequence's logits never depend on which other sequences share its batch; llama.cpp
   * decides by the whole batch, which is the same when one sequence runs.
   */
  readonly tiled?: boolean;
}

/**
 * ALiBi's slope for each of nHead query heads, as ggml_soft_max_ext computes them from max_bias (ggml-cpu
 * ops.cpp): geometric in 2^(-maxBias/n) over the largest power of two n ≤ nHead, the remaining heads
 * interleaved at half the rate. All 1 when maxBias is 0 (callers then pass no slopes).
 */
export function alibiSlopes(nHead: number, maxBias: number): Float32Array {
  const n = 2 ** Math.floor(Math.log2(nHead));
  const m0 = Math.fround(2 ** Math.fround(-maxBias / n));
  const m1 = Math.fround(2 ** Math.fround(-(maxBias / 2) / n));
  return Float32Array.from({ length: nHead }, (_, h) => (maxBias > 0 ? (h < n ? m0 ** (h + 1) : m1 ** (2 * (h - n) + 1)) : 1));
}

/**
 * out (nHead × valueDim floats) = attention of q (nHead × headDim floats) over K and V, for the query heads of
 * KV heads [g0, g1) (all by default): threads splitting the heads write disjoint parts of out.
 */
export function attend(
  k: KernelExports, out: number, q: number, shape: AttentionShape, keys: KvTensor, values: KvTensor, scratch: AttentionScratch,
  g0 = 0, g1 = shape.nKvHead,
): void {
  const { nHead, nKvHead, headDim, nPos, scale, slopes } = shape;
  const valueDim = shape.valueDim ?? headDim;
  const group = nHead / nKvHead;
  for (let g = g0; g < g1; g++) {
    const h0 = g * group;
    const scores = scratch.scores + h0 * nPos * 4;
    const kv = keys.offset + g * keys.headBytes;
    if (keys.type.scoresGroup) {
      // The heads of a group read each key row once (F16: one conversion for all of them).
      k.roundToF16(scratch.query, q + h0 * headDim * 4, group * headDim);
      k[keys.type.scoresGroup](scores, scratch.query, kv, keys.rowBytes, nPos, headDim, group, scratch.partial);
    } else {
      const convert = k[activationOf(keys.type).activation.convert];
      for (let i = 0; i < group; i++) {
        convert(scratch.query, scratch.queryScales, q + (h0 + i) * headDim * 4, headDim);
        k[keys.type.matvec!](scores + i * nPos * 4, kv, keys.rowBytes, scratch.query, scratch.queryScales, headDim / keys.type.blockSize, 0, nPos);
      }
    }
    for (let i = 0; i < group; i++) k.softmax(scores + i * nPos * 4, nPos, scale, slopes ? slopes[h0 + i] : 0);
    const vv = values.offset + g * values.headBytes;
    if (values.type.accumulateGroup) {
      k[values.type.accumulateGroup](out + h0 * valueDim * 4, scores, vv, values.rowBytes, nPos, valueDim, group);
    } else {
      for (let i = 0; i < group; i++) {
        k[(shape.tiled && values.type.accumulateRowsTiled) || values.type.accumulateRows!](out + (h0 + i) * valueDim * 4, scores + i * nPos * 4, vv, values.rowBytes, nPos, valueDim);
      }
    }
  }
}

/**
 * One thread's attention job for a batch, laid out as i32 words in its own arena (so a dispatch carries one
 * offset and no message): the header below, then (sequence, position) per row. Offsets are bytes in that arena
 * (read as u32). Written by KvCache.attend, run by runAttentionRows on the thread that owns the KV heads.
 */
export const ATTENTION_ROWS = {
  rows: 0, nHead: 1, nKvHead: 2, headDim: 3, scaleBits: 4, keys: 5, values: 6, keyHeadBytes: 7, valueHeadBytes: 8, keyType: 9,
  valueType: 10, qIn: 11, kIn: 12, vIn: 13, out: 14, query: 15, queryScales: 16, scores: 17, partial: 18, kvScales: 19, contextSize: 20,
  /** Offset of one ALiBi slope per query head (floats), 0 for none. */
  slopes: 21,
  /** Values per head; 1 in `valuesInKeys` when the values are the first valueDim elements of each key (MLA). */
  valueDim: 22, valuesInKeys: 23,
  /** Words before the per-row pairs. */
  header: 24,
} as const;

/**
 * Runs one thread's share of a batch's attention: first appends every row's key and value (floats at kIn/vIn,
 * this thread's KV heads only) to its sequence's cells, then attends each row over its own sequence's cells
 * [0, position], so rows of one sequence in the same batch see each other causally and rows of different
 * sequences never meet. Query rows (this thread's heads) are at qIn, outputs go to out.
 */
export function runAttentionRows(k: KernelExports, memory: WasmMemory, at: number): void {
  const A = ATTENTION_ROWS;
  const w = new Int32Array(memory.buffer, at, A.header);
  const u = (i: number) => w[i] >>> 0;
  const n = w[A.rows];
  const rows = new Int32Array(memory.buffer, at + A.header * 4, 2 * n);
  const [nHead, nKvHead, headDim, ctx] = [w[A.nHead], w[A.nKvHead], w[A.headDim], w[A.contextSize]];
  const scale = new Float32Array(w.buffer, w.byteOffset + A.scaleBits * 4, 1)[0];
  // Keys and values each: type, bytes per head and per cell (this thread's heads at one position), converter.
  const side = (type: number, offset: number, headBytes: number) => {
    const t = ggmlType(w[type])!;
    const hb = u(headBytes);
    return { type: t, offset: u(offset), headBytes: hb, rowBytes: nKvHead * hb, convert: k[activationOf(t).activation.convert] };
  };
  const keys = side(A.keyType, A.keys, A.keyHeadBytes);
  const values = side(A.valueType, A.values, A.valueHeadBytes);
  const valueDim = w[A.valueDim];
  const qDim = nHead * headDim;
  const kvDim = nKvHead * headDim;
  for (let i = 0; i < n; i++) {
    const cell = rows[2 * i] * ctx + rows[2 * i + 1];
    keys.convert(keys.offset + cell * keys.rowBytes, u(A.kvScales), u(A.kIn) + i * kvDim * 4, kvDim);
    if (!w[A.valuesInKeys]) values.convert(values.offset + cell * values.rowBytes, u(A.kvScales), u(A.vIn) + i * nKvHead * valueDim * 4, nKvHead * valueDim);
  }
  const scratch = { query: u(A.query), queryScales: u(A.queryScales), scores: u(A.scores), partial: u(A.partial) };
  const slopes = u(A.slopes) ? new Float32Array(memory.buffer, u(A.slopes), nHead) : undefined;
  const cells = (s: typeof keys, first: number): KvTensor => ({ type: s.type, offset: s.offset + first * s.rowBytes, rowBytes: s.rowBytes, headBytes: s.headBytes });
  const rowsOf = new Map<number, number>(); // sequence → its rows in this batch
  for (let i = 0; i < n; i++) rowsOf.set(rows[2 * i], (rowsOf.get(rows[2 * i]) ?? 0) + 1);
  for (let i = 0; i < n; i++) {
    const first = rows[2 * i] * ctx;
    const tiled = rowsOf.get(rows[2 * i])! > 1;
    const shape = { nHead, nKvHead, headDim, nPos: rows[2 * i + 1] + 1, scale, slopes, valueDim, tiled };
    attend(k, u(A.out) + i * nHead * valueDim * 4, u(A.qIn) + i * qDim * 4, shape, cells(keys, first), cells(values, first), scratch);
  }
}
