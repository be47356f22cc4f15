// The KV cache of a context: keys and values for every (sequence, position) cell of every layer, sharded by KV
// head across the pool's threads. Thread t owns KV heads [g0, g1): their cells for all sequences live in its own
// arenas (first touched by itself, so on its NUMA node when it is pinned), and attention for the query heads of
// those KV heads runs on it, in decode as in prefill. No memory holds the whole cache, so it is not capped by
// one 4 GiB wasm32 memory: each thread's share is packed into as many arenas as it needs, a layer to one arena.
//
// A sequence owns a fixed run of `contextSize` cells per layer, so its keys are one contiguous, position-ordered
// run that the attention kernels stream, and no sequence can run out of room because of another.
import { alibiSlopes, ATTENTION_ROWS } from "./attention.js";
import { GGML_TYPES, ggmlTypeByName, rowBytes, type GgmlTypeTraits, type KvCacheType } from "./ggmlTypes.js";
import { splitRows } from "./pool/shardedMatrix.js";
import type { Arena, WorkerPool } from "./pool/workerPool.js";
import { KERNEL_RESERVED_BYTES } from "./wasm/wasmKernels.js";

export type { KvCacheType };
/** The element types a KV cache can hold: the type table's rows flagged kvCache, in id order. */
export const KV_CACHE_TYPES = GGML_TYPES.filter((t) => t.kvCache).map((t) => t.name as KvCacheType);
/** The KV cache type when none is asked for: llama.cpp's default (`--cache-type-k/-v f16`). */
export const DEFAULT_KV_CACHE_TYPE: KvCacheType = "f16";

/** `name` as a KV cache type; a RangeError naming `what` (a flag, an option) and the accepted ones otherwise. */
export function parseKvCacheType(name: string, what = "KV cache type"): KvCacheType {
  if (!(KV_CACHE_TYPES as readonly string[]).includes(name)) throw new RangeError(`${what} must be ${KV_CACHE_TYPES.join(", ")}, got '${name}'`);
  return name as KvCacheType;
}

/** The type traits of a KV cache type name; a RangeError naming the accepted ones otherwise. */
export function kvTypeByName(name: string): GgmlTypeTraits {
  return ggmlTypeByName(parseKvCacheType(name))!;
}

export interface KvCacheLayout {
  readonly nLayer: number;
  readonly nHead: number;
  readonly nKvHead: number;
  readonly headDim: number;
  /** Element type of the keys: F32, F16 or Q8_0 (Q8_0 needs headDim to be a multiple of 32). */
  readonly keyType: GgmlTypeTraits;
  /** Element type of the values (llama.cpp's --cache-type-v), likewise. */
  readonly valueType: GgmlTypeTraits;
  readonly sequences: number;
  /** Cells per sequence. */
  readonly contextSize: number;
  /** Most rows one attend() call takes (the forward pass's batch). */
  readonly maxRows: number;
  /** ALiBi's maximum bias (llama.cpp's f_max_alibi_bias, 8 for Baichuan 13B): attention adds per-head slopes · -(distance). 0 or absent: none. */
  readonly maxAlibiBias?: number;
  /** Values per KV head (headDim when absent). */
  readonly valueDim?: number;
  /**
   * The values are the first valueDim elements of each key, and are not stored apart (MLA with absorption: the
   * key is [latent, RoPE part] and the value is the latent). Keys and values then share one type.
   */
  readonly valuesInKeys?: boolean;
  /** Scale of the scores before softmax; 1/sqrt(headDim) when absent. */
  readonly scale?: number;
}

/** One row of a batch: the sequence it belongs to and its position there (its key and value go to that cell). */
export interface AttentionRow {
  readonly sequence: number;
  readonly position: number;
}

/** Offsets in one of a thread's KV arenas. */
interface ShardScratch {
  readonly job: number;
  readonly qIn: number;
  readonly kIn: number;
  readonly vIn: number;
  readonly out: number;
  readonly query: number;
  readonly queryScales: number;
  readonly scores: number;
  readonly partial: number;
  readonly kvScales: number;
  /** This thread's query heads' ALiBi slopes (floats). */
  readonly slopes: number;
}

interface Shard {
  readonly thread: number;
  /** KV heads [g0, g1) and so query heads [g0·group, g1·group). */
  readonly g0: number;
  readonly g1: number;
  readonly arenas: readonly { readonly arena: Arena; readonly scratch: ShardScratch }[];
  /** Per layer: which of `arenas`, and where its keys and values start: (sequences, contextSize, g1 - g0, headDim). */
  readonly layers: readonly { readonly slot: number; readonly keys: number; readonly values: number }[];
}

const align64 = (n: number) => Math.ceil(n / 64) * 64;
const ARENA_ROOM = 2 ** 32 - KERNEL_RESERVED_BYTES - 65536;

export class KvCache {
  private readonly shards: readonly Shard[];
  /** Bytes of one head's key, and of its value, at one position. */
  private readonly keyHeadBytes: number;
  private readonly valueHeadBytes: number;

  constructor(
    private readonly pool: WorkerPool,
    readonly layout: KvCacheLayout,
  ) {
    const { nLayer, nHead, nKvHead, headDim, keyType, valueType, sequences, contextSize } = layout;
    for (const [name, v] of Object.entries({ nLayer, nHead, nKvHead, headDim, sequences, contextSize, maxRows: layout.maxRows })) {
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`KV cache ${name} must be a positive integer, got ${v}`);
    }
    if (nHead % nKvHead !== 0) throw new RangeError(`${nHead} query heads do not group evenly over ${nKvHead} KV heads`);
    for (const t of [keyType, valueType]) {
      if (headDim % t.blockSize !== 0) throw new RangeError(`KV cache type ${t.name} needs a head size that is a multiple of ${t.blockSize} (this model: ${headDim})`);
    }
    const valueDim = layout.valueDim ?? headDim;
    if (layout.valuesInKeys && (valueType !== keyType || valueDim > headDim)) throw new RangeError("values read from the keys need the keys' type and at most their width");
    if (valueDim % valueType.blockSize !== 0) throw new RangeError(`KV cache type ${valueType.name} needs a value size that is a multiple of ${valueType.blockSize} (this model: ${valueDim})`);
    this.keyHeadBytes = rowBytes(keyType, headDim);
    // Values inside the keys are strided like keys.
    this.valueHeadBytes = layout.valuesInKeys ? this.keyHeadBytes : rowBytes(valueType, valueDim);
    const splits = splitRows(nKvHead, pool.threads);
    for (const [g0, g1] of splits) this.layerBytes(g0, g1); // checks every thread's share before any is allocated
    this.shards = splits.flatMap(([g0, g1], thread) => (g1 > g0 ? [this.place(thread, g0, g1)] : []));
  }

  /** Bytes of keys and values one token takes across all layers: the one figure memory plans use. */
  static bytesPerToken(layout: Pick<KvCacheLayout, "nLayer" | "nKvHead" | "headDim" | "keyType" | "valueType" | "valueDim" | "valuesInKeys">): number {
    const values = layout.valuesInKeys ? 0 : rowBytes(layout.valueType, layout.valueDim ?? layout.headDim);
    return layout.nLayer * layout.nKvHead * (rowBytes(layout.keyType, layout.headDim) + values);
  }

  /** Bytes the cache takes with its scratch, over all threads. */
  get bytes(): number {
    return this.shards.reduce((n, s) => n + s.arenas.reduce((m, a) => m + a.arena.used, 0), 0);
  }

  /** One layer's keys and values on the thread holding KV heads [g0, g1); a RangeError if one memory cannot hold them. */
  private layerBytes(g0: number, g1: number): { keyRegion: number; valueRegion: number; room: number } {
    const { contextSize, sequences } = this.layout;
    const cells = sequences * contextSize;
    const values = this.layout.valuesInKeys ? 0 : cells * (g1 - g0) * this.valueHeadBytes;
    const [keyRegion, valueRegion] = [align64(cells * (g1 - g0) * this.keyHeadBytes), align64(values)];
    const room = ARENA_ROOM - this.scratchBytes(g1 - g0);
    if (keyRegion + valueRegion > room) {
      throw new RangeError(
        `one layer's KV cache on one thread takes ${((keyRegion + valueRegion) / 2 ** 30).toFixed(2)} GiB (${sequences} sequences × ${contextSize} cells), ` +
          `more than one 4 GiB WebAssembly memory holds: use fewer sequences, a smaller context, more threads or a q8_0 cache`,
      );
    }
    return { keyRegion, valueRegion, room };
  }

  /** Packs one thread's layers into arenas of its own, each with the scratch for a batch's attention. */
  private place(thread: number, g0: number, g1: number): Shard {
    const { nLayer } = this.layout;
    const { keyRegion, valueRegion, room } = this.layerBytes(g0, g1);
    const layerBytes = keyRegion + valueRegion;
    const perArena = Math.floor(room / layerBytes);
    const arenas = Array.from({ length: Math.ceil(nLayer / perArena) }, (_, i) => {
      const layers = Math.min(perArena, nLayer - i * perArena);
      const arena = this.pool.addArena(thread, this.scratchBytes(g1 - g0) + layers * layerBytes + 64);
      const scratch = this.allocScratch(arena, g1 - g0);
      const group = this.layout.nHead / this.layout.nKvHead;
      const slopes = alibiSlopes(this.layout.nHead, this.layout.maxAlibiBias ?? 0).subarray(g0 * group, g1 * group);
      new Float32Array(arena.memory.buffer, scratch.slopes, slopes.length).set(slopes);
      return { arena, scratch };
    });
    const layers = Array.from({ length: nLayer }, (_, l) => {
      const slot = Math.floor(l / perArena);
      const arena = arenas[slot].arena;
      const keys = arena.alloc(keyRegion);
      return { slot, keys, values: this.layout.valuesInKeys ? keys : arena.alloc(valueRegion) };
    });
    return { thread, g0, g1, arenas, layers };
  }

  private scratchBytes(nKv: number): number {
    const { nHead, nKvHead, headDim, contextSize, maxRows } = this.layout;
    const valueDim = this.layout.valueDim ?? headDim;
    const heads = (nKv * nHead) / nKvHead;
    const sizes = [(ATTENTION_ROWS.header + 2 * maxRows) * 4, maxRows * heads * headDim * 4, maxRows * nKv * headDim * 4, maxRows * nKv * valueDim * 4,
      maxRows * heads * valueDim * 4, heads * headDim * 4, heads * headDim + 64, heads * contextSize * 4, heads * 16 + 64, nKv * headDim + 64, heads * 4];
    return sizes.reduce((n, b) => n + align64(b), 0) + 64;
  }

  private allocScratch(arena: Arena, nKv: number): ShardScratch {
    const { nHead, nKvHead, headDim, contextSize, maxRows } = this.layout;
    const valueDim = this.layout.valueDim ?? headDim;
    const heads = (nKv * nHead) / nKvHead;
    return {
      job: arena.alloc((ATTENTION_ROWS.header + 2 * maxRows) * 4),
      qIn: arena.alloc(maxRows * heads * headDim * 4),
      kIn: arena.alloc(maxRows * nKv * headDim * 4),
      vIn: arena.alloc(maxRows * nKv * valueDim * 4),
      out: arena.alloc(maxRows * heads * valueDim * 4),
      query: arena.alloc(heads * headDim * 4),
      queryScales: arena.alloc(heads * headDim + 64),
      scores: arena.alloc(heads * contextSize * 4),
      partial: arena.alloc(heads * 16 + 64),
      kvScales: arena.alloc(nKv * headDim + 64),
      slopes: arena.alloc(heads * 4),
    };
  }

  /**
   * One layer's attention for a batch: appends row i's key k[i] (nKvHead·headDim floats) and value v[i]
   * (nKvHead·valueDim floats; unused when the values are in the keys) at its (sequence, position) cell, then
   * writes to out[i] (nHead·valueDim floats) the attention of query q[i] (nHead·headDim floats) over cells
   * [0, position] of its sequence. Every thread appends and attends for its own KV heads, all at once.
   */
  attend(layer: number, rows: readonly AttentionRow[], q: Float32Array, k: Float32Array, v: Float32Array, out: Float32Array): void {
    const { nHead, nKvHead, headDim, contextSize, sequences, maxRows } = this.layout;
    const valueDim = this.layout.valueDim ?? headDim;
    const n = rows.length;
    const group = nHead / nKvHead;
    const [qDim, kvDim, vDim, outDim] = [nHead * headDim, nKvHead * headDim, nKvHead * valueDim, nHead * valueDim];
    if (n < 1 || n > maxRows) throw new RangeError(`an attention batch holds 1 to ${maxRows} rows, got ${n}`);
    for (const r of rows) {
      if (!(r.sequence >= 0 && r.sequence < sequences && r.position >= 0 && r.position < contextSize)) {
        throw new RangeError(`KV cell (sequence ${r.sequence}, position ${r.position}) is outside the cache (${sequences} × ${contextSize})`);
      }
    }
    const A = ATTENTION_ROWS;
    const jobs: ({ arena: number; job: number } | null)[] = Array.from({ length: this.pool.threads }, () => null);
    for (const s of this.shards) {
      const L = s.layers[layer];
      const { arena, scratch: sc } = s.arenas[L.slot];
      const [h0, h1] = [s.g0 * group, s.g1 * group];
      const [qLocal, kvLocal, vLocal] = [(h1 - h0) * headDim, (s.g1 - s.g0) * headDim, (s.g1 - s.g0) * valueDim];
      const buffer = arena.memory.buffer;
      const [qIn, kIn, vIn] = [new Float32Array(buffer, sc.qIn, n * qLocal), new Float32Array(buffer, sc.kIn, n * kvLocal), new Float32Array(buffer, sc.vIn, n * vLocal)];
      for (let i = 0; i < n; i++) {
        qIn.set(q.subarray(i * qDim + h0 * headDim, i * qDim + h1 * headDim), i * qLocal);
        kIn.set(k.subarray(i * kvDim + s.g0 * headDim, i * kvDim + s.g1 * headDim), i * kvLocal);
        if (!this.layout.valuesInKeys) vIn.set(v.subarray(i * vDim + s.g0 * valueDim, i * vDim + s.g1 * valueDim), i * vLocal);
      }
      const w = new Int32Array(buffer, sc.job, A.header + 2 * n);
      w[A.rows] = n;
      w[A.nHead] = h1 - h0;
      w[A.nKvHead] = s.g1 - s.g0;
      w[A.headDim] = headDim;
      new Float32Array(buffer, sc.job + A.scaleBits * 4, 1)[0] = this.layout.scale ?? 1 / Math.sqrt(headDim);
      w[A.keys] = L.keys;
      w[A.values] = L.values;
      w[A.keyHeadBytes] = this.keyHeadBytes;
      w[A.valueHeadBytes] = this.valueHeadBytes;
      w[A.keyType] = this.layout.keyType.id;
      w[A.valueType] = this.layout.valueType.id;
      w[A.qIn] = sc.qIn;
      w[A.kIn] = sc.kIn;
      w[A.vIn] = sc.vIn;
      w[A.out] = sc.out;
      w[A.query] = sc.query;
      w[A.queryScales] = sc.queryScales;
      w[A.scores] = sc.scores;
      w[A.partial] = sc.partial;
      w[A.kvScales] = sc.kvScales;
      w[A.contextSize] = contextSize;
      w[A.slopes] = this.layout.maxAlibiBias ? sc.slopes : 0;
      w[A.valueDim] = valueDim;
      w[A.valuesInKeys] = this.layout.valuesInKeys ? 1 : 0;
      rows.forEach((r, i) => {
        w[A.header + 2 * i] = r.sequence;
        w[A.header + 2 * i + 1] = r.position;
      });
      jobs[s.thread] = { arena: arena.index, job: sc.job };
    }
    this.pool.attendRows(jobs);
    for (const s of this.shards) {
      const { arena, scratch: sc } = s.arenas[s.layers[layer].slot];
      const [h0, h1] = [s.g0 * group, s.g1 * group];
      const outLocal = (h1 - h0) * valueDim;
      const result = new Float32Array(arena.memory.buffer, sc.out, n * outLocal);
      for (let i = 0; i < n; i++) out.set(result.subarray(i * outLocal, (i + 1) * outLocal), i * outDim + h0 * valueDim);
    }
  }

  /** Copies cells [0, length) of sequence `from` to sequence `to`, every layer (a shared prompt prefix). */
  copyCells(from: number, to: number, length: number): void {
    const { sequences, contextSize } = this.layout;
    if (![from, to].every((s) => Number.isInteger(s) && s >= 0 && s < sequences) || !(length >= 0 && length <= contextSize)) {
      throw new RangeError(`cannot copy ${length} cells from sequence ${from} to ${to} (${sequences} × ${contextSize})`);
    }
    if (from === to || length === 0) return;
    for (const s of this.shards) {
      const heads = s.g1 - s.g0;
      for (const L of s.layers) {
        const bytes = s.arenas[L.slot].arena.bytes;
        const regions = this.layout.valuesInKeys ? [[L.keys, heads * this.keyHeadBytes]] : [[L.keys, heads * this.keyHeadBytes], [L.values, heads * this.valueHeadBytes]];
        for (const [base, cellBytes] of regions) {
          const src = base + from * contextSize * cellBytes;
          bytes.copyWithin(base + to * contextSize * cellBytes, src, src + length * cellBytes);
        }
      }
    }
  }
}
