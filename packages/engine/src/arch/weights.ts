// Where an architecture's tensors go when a model loads: matrices to the worker pool's arenas, each thread
// holding (and reading from the file) its own rows; small vectors (norm weights, biases) to the main thread's
// first arena as float32. A tensor the architecture needs and the file lacks, or has in another shape, is a
// ModelFormatError naming it; one no kernel computes, an UnsupportedTensorTypeError. Without a pool the same
// lookups and checks run with nothing placed (checkModel), and `used` tells which tensors were asked for.
import {
  fromFloatOf, ggmlTypeByName, MATRIX_TYPES, MatMul, readFileInto, rowBytes, toFloatOf, UnsupportedTensorTypeError, type GgmlMatMulOp, type GgmlTypeTraits, type ShardedMatrix,
  type WasmMemory, type WorkerPool,
} from "@cpu-llm/kernels";
import { ModelFormatError } from "../errors.js";
import type { GgufFile, GgufTensorInfo } from "../gguf/readGguf.js";
import type { Hparams } from "./hparams.js";
import { TENSOR } from "./tensorNames.js";

/** A float32 vector in the main thread's first arena: its offset for kernels, its array for JS. */
export class Vector {
  readonly array: Float32Array;
  constructor(
    memory: WasmMemory,
    readonly at: number,
    n: number,
  ) {
    this.array = new Float32Array(memory.buffer, at, n);
  }
}

/** A matrix's shape and kernels without shards: what a check returns instead of placing it. */
function unplaced(type: GgmlTypeTraits, rows: number, cols: number): ShardedMatrix {
  return { type, rows, cols, rowBytes: rowBytes(type, cols), kernels: { matvec: type.matvec! }, shards: [] };
}

export class Weights {
  private readonly matmul: MatMul | undefined;
  private readonly reads: { m: ShardedMatrix; position: number }[] = [];
  /** Every tensor asked for, so far: what the file holds beyond them is unused. */
  readonly used = new Set<string>();

  /**
   * Places weights on `pool`; with no pool, only checks: every tensor is looked up and checked (presence,
   * shape, computable type) as a load would, but nothing is allocated or read (checkModel).
   */
  constructor(
    readonly file: GgufFile & { path: string },
    private readonly placeOn: WorkerPool | undefined,
    readonly hp: Hparams,
    maxBatch: number,
    /** How stacked experts are spread over the threads: every expert's rows split ("rows"), or whole experts dealt round-robin ("whole"). */
    readonly expertPlacement: "rows" | "whole" = "rows",
  ) {
    if (!placeOn) return;
    // Every matrix in the file but the token embedding (rows of which are read one at a time, unless it
    // doubles as the output) is planned at once, so each thread's arenas are sized before the first is placed;
    // a 3-D tensor (stacked experts, per-head projections) is one matrix per slice.
    const tied = !this.has(TENSOR.output);
    const matrices = file.tensors
      .filter((t) => (t.dims.length === 2 || t.dims.length === 3) && (t.name !== TENSOR.token_embd || tied) && t.type.matvec)
      .flatMap((t) => Array.from({ length: t.dims[2] ?? 1 }, (_, i) => ({ ...matrixShape(t), owner: this.ownerOf(t.name, i) })));
    const most = (f: (m: { rows: number; cols: number }) => number) => Math.max(hp.nEmbd, ...matrices.map(f));
    this.matmul = new MatMul(placeOn, { maxCols: most((m) => m.cols), maxRows: most((m) => m.rows), maxBatch });
    this.matmul.reserve(matrices);
  }

  /** The pool the weights are placed on (not in a check). */
  get pool(): WorkerPool {
    if (!this.placeOn) throw new Error("a checking Weights places nothing");
    return this.placeOn;
  }

  /** The products over the placed weights (not in a check). */
  get mm(): MatMul {
    if (!this.matmul) throw new Error("a checking Weights places nothing");
    return this.matmul;
  }

  /**
   * A rows × cols matrix of t's type placed in the arenas, its bytes read from `position` by load(); in a check,
   * its shape and kernels without shards.
   */
  private place(t: GgufTensorInfo, rows: number, cols: number, position: number, placement?: { owner?: number; op?: GgmlMatMulOp }): ShardedMatrix {
    if (!this.matmul) return unplaced(t.type, rows, cols);
    const m = this.matmul.alloc(t.type, rows, cols, placement);
    this.reads.push({ m, position });
    return m;
  }

  /** The thread that holds slice i of a tensor whole, or undefined for rows split across all threads. */
  private ownerOf(name: string, slice: number): number | undefined {
    return this.expertPlacement === "whole" && /_exps\.weight$/.test(name) ? slice % (this.placeOn?.threads ?? 1) : undefined;
  }

  has(name: string): boolean {
    return this.file.tensors.some((t) => t.name === name);
  }

  tensor(name: string): GgufTensorInfo {
    const t = this.file.tensors.find((x) => x.name === name);
    if (!t) throw new ModelFormatError(this.file.path, name, "is missing: this architecture needs it");
    this.used.add(name);
    return t;
  }

  /** A tensor that is multiplied: an UnsupportedTensorTypeError naming it when no kernel computes its type. */
  private weight(name: string): GgufTensorInfo {
    const t = this.tensor(name);
    if (!t.type.matvec) throw new UnsupportedTensorTypeError(name, t.type.name, MATRIX_TYPES);
    return t;
  }

  /** A matrix placed in the pool's arenas (its bytes are read by load()). */
  matrix(name: string, shape?: { rows: number; cols: number }): ShardedMatrix {
    const t = this.weight(name);
    const { rows, cols } = matrixShape(t);
    if (shape && (rows !== shape.rows || cols !== shape.cols)) {
      throw new ModelFormatError(this.file.path, name, `is ${rows}×${cols}, expected ${shape.rows}×${shape.cols}`);
    }
    return this.place(t, rows, cols, t.fileOffset);
  }

  /**
   * Each slice of a 3-D tensor (ne2 of them: experts, heads) as a matrix of its own, placed like matrix().
   * llama.cpp multiplies an expert stack with mul_mat_id; `broadcast`: a stack it multiplies with mul_mat
   * (MLA's per-head attn_k_b, attn_v_b), which ggml-cpu sums otherwise (GgmlMatMulOp).
   */
  matrices(name: string, shape: { rows: number; cols: number; slices: number; broadcast?: boolean }): ShardedMatrix[] {
    const t = this.weight(name);
    const { rows, cols } = matrixShape(t);
    if (t.dims.length !== 3 || rows !== shape.rows || cols !== shape.cols || t.dims[2] !== shape.slices) {
      throw new ModelFormatError(this.file.path, name, `has dims [${t.dims.join(", ")}], expected [${shape.cols}, ${shape.rows}, ${shape.slices}]`);
    }
    const sliceBytes = t.nBytes / shape.slices;
    return Array.from({ length: shape.slices }, (_, i) => this.place(t, rows, cols, t.fileOffset + i * sliceBytes, { owner: this.ownerOf(name, i), op: shape.broadcast ? "mul_mat_broadcast" : "mul_mat_id" }));
  }

  /** Rows [first, first + rows) of a 2-D tensor as a matrix of their own, read from the file by load(). */
  matrixRows(name: string, first: number, rows: number): ShardedMatrix {
    const t = this.weight(name);
    const { cols } = matrixShape(t);
    const rowBytes = t.nBytes / (t.dims[1] ?? 1);
    return this.place(t, rows, cols, t.fileOffset + first * rowBytes);
  }

  /**
   * A matrix made from floats (rows × cols, row-major) rather than read: stored as F16 (a weight rebuilt at load,
   * such as a transposed slice), each thread's rows written into its arena now.
   */
  matrixFrom(values: Float32Array, rows: number, cols: number): ShardedMatrix {
    const f16 = ggmlTypeByName("f16")!;
    if (!this.matmul) return unplaced(f16, rows, cols);
    const m = this.matmul.alloc(f16, rows, cols);
    const bytes = new Uint8Array(rows * m.rowBytes);
    fromFloatOf(f16, "rebuilt matrix")(bytes, 0, values, 0, values.length);
    this.matmul.set(m, bytes);
    return m;
  }

  /** A vector of `n` float32s in the main arena (uninitialised). */
  scratch(n: number): Vector {
    const main = this.pool.arenasOf(0)[0];
    return new Vector(main.memory, main.alloc(n * 4), n);
  }

  /** A tensor read now and converted to float32 in the main arena (norm weights, biases); its offset. */
  vector(name: string, length?: number): number {
    const t = this.tensor(name);
    if (length !== undefined && t.nElements !== length) throw new ModelFormatError(this.file.path, name, `has ${t.nElements} values, expected ${length}`);
    if (!this.matmul) return 0;
    const v = this.scratch(t.nElements);
    v.array.set(this.floats(name));
    return v.at;
  }

  /** A tensor's values as float32, read now (small tensors: rope_freqs, norms). */
  floats(name: string): Float32Array {
    const t = this.tensor(name);
    const out = new Float32Array(t.nElements);
    toFloatOf(t.type, t.name); // an UnsupportedTensorTypeError for a type with no converter, in a check too
    if (!this.matmul) return out;
    const raw = new Uint8Array(t.nBytes);
    readFileInto(this.file.path, raw, t.fileOffset);
    toFloatOf(t.type, t.name)(out, 0, raw, 0, t.nElements);
    return out;
  }

  /** Reads every placed matrix's rows, each thread its own shard. */
  load(onProgress?: (fraction: number) => void): void {
    this.mm.load(this.file.path, this.reads, onProgress);
  }
}

/** ggml's ne0 (row length) is the columns, ne1 the rows; ne2, if any, counts slices. */
function matrixShape(t: GgufTensorInfo): { type: GgmlTypeTraits; rows: number; cols: number } {
  return { type: t.type, rows: t.dims[1] ?? 1, cols: t.dims[0] };
}
