// The state of one forward pass that every block reads and writes: the batch's rows, the KV cache they
// attend over, and the activation buffers, each (rows, width) row-major in the main thread's first arena.
import { ropeCache, type KernelExports, type KvCache, type MatMul } from "@cpu-llm/kernels";
import type { Hparams } from "./hparams.js";
import type { Vector, Weights } from "./weights.js";

/** One row of a forward pass: a token of a sequence at its position; `logits` asks for the row's logits. */
export interface BatchRow {
  readonly token: number;
  readonly sequence: number;
  readonly position: number;
  readonly logits: boolean;
}

/** The activation buffers, sized for `maxBatch` rows. */
export interface Buffers {
  readonly x: Vector; // (n, nEmbd) the residual stream
  readonly xb: Vector; // (n, nEmbd) a block's normalised input
  readonly xb2: Vector; // (n, nEmbd) a block's output, before it is added to x
  readonly q: Vector; // (n, nHead * headDim)
  readonly k: Vector; // (n, nKvHead * headDim)
  readonly v: Vector; // (n, nKvHead * headDim)
  readonly att: Vector; // (n, nHead * headDim) attention output
  readonly hb: Vector; // (n, nFf) feed-forward hidden
  readonly hb2: Vector; // (n, nFf)
  readonly logits: Vector; // (n, nVocab)
  readonly rope: Vector; // (n, rope.nDims) each row's (cos, sin) pairs
}

export class Pass {
  /** Rows in this pass, and the rows themselves. */
  n = 0;
  rows: readonly BatchRow[] = [];
  cache!: KvCache;
  readonly buf: Buffers;

  constructor(
    readonly hp: Hparams,
    readonly k: KernelExports,
    readonly mm: MatMul,
    w: Weights,
    readonly maxBatch: number,
  ) {
    const { nEmbd, nHead, nKvHead, headDim, nFf, nVocab } = hp;
    const n = maxBatch;
    const v = (width: number) => w.scratch(n * width);
    this.buf = {
      x: v(nEmbd), xb: v(nEmbd), xb2: v(nEmbd), q: v(nHead * headDim), k: v(nKvHead * headDim), v: v(nKvHead * headDim),
      att: v(nHead * headDim), hb: v(nFf), hb2: v(nFf), logits: v(nVocab), rope: v(hp.rope.nDims),
    };
  }

  /** Starts a pass over `rows`: each row's RoPE angles for its position. */
  begin(cache: KvCache, rows: readonly BatchRow[]): void {
    if (rows.length < 1 || rows.length > this.maxBatch) throw new RangeError(`a batch holds 1 to ${this.maxBatch} rows, got ${rows.length}`);
    this.cache = cache;
    this.rows = rows;
    this.n = rows.length;
    const nDims = this.hp.rope.nDims;
    rows.forEach((r, i) => ropeCache(this.buf.rope.array.subarray(i * nDims), r.position, this.hp.rope));
  }

  /** The first n rows of a buffer of rows `width` wide. */
  view(b: Vector, width: number): Float32Array {
    return b.array.subarray(0, this.n * width);
  }

  /**
   * Runs f as if the pass had `n` rows: for work on a subset of its rows gathered into the first n rows of
   * some buffers (the rows that chose one expert).
   */
  over<T>(n: number, f: () => T): T {
    const all = this.n;
    this.n = n;
    try {
      return f();
    } finally {
      this.n = all;
    }
  }

  /** Residual: x += y over every row. */
  add(x: Vector, y: Vector, width: number): void {
    this.k.add(x.at, x.at, y.at, this.n * width);
  }
}
