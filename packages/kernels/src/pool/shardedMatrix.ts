// Matrices split by rows across the pool's threads: thread t owns rows [rowStart, rowStart + rows) in one of
// its arenas. A product converts the activations once (on the main thread, to the weight type's vecDotType),
// copies them into every arena that holds a shard, runs every shard at once, and gathers the rows.
// Nothing here branches on a tensor type: the type-traits table names the kernels.
import { activationOf, GGML_TYPES, rowBytes, type GgmlTypeTraits } from "../ggmlTypes.js";
import type { KernelName, MatmulKernel, MatvecKernel, RepackKernel } from "../wasm/kernelTable.js";
import { KERNEL_RESERVED_BYTES } from "../wasm/wasmKernels.js";
import type { FileRead } from "./readFileInto.js";
import type { Arena, Call, WorkerPool } from "./workerPool.js";

const align64 = (n: number) => Math.ceil(n / 64) * 64;

/** Bytes of the (d, Σq)-style scales an activation row of n elements has beside its blocks, for a weight type. */
const scalesBytes = (weights: GgmlTypeTraits, n: number) => {
  const a = activationOf(weights);
  return (n / a.blockSize) * a.activation.scaleBytes;
};

/** The most scale bytes any activation type writes per element (scratch is planned before the types are known). */
const MAX_SCALE_BYTES_PER_ELEMENT = Math.max(...GGML_TYPES.map((t) => (t.activation ? t.activation.scaleBytes / t.blockSize : 0)));
/** The widest repack's scratch for rows of n elements: one group of its rows (8 Q4_0 rows: 4.5 bytes a column), or one row. */
const repackScratchBytes = (n: number) =>
  Math.max(0, ...GGML_TYPES.map((t) => (t.repack ? (t.repackRows ?? 1) * Math.ceil(n / t.blockSize) * t.typeSize : 0)));

export interface MatrixShard {
  readonly thread: number;
  readonly arena: Arena;
  /** Byte offset of the shard's first row in its arena. */
  readonly offset: number;
  readonly rowStart: number;
  readonly rows: number;
}

export interface ShardedMatrix {
  readonly type: GgmlTypeTraits;
  /** Output length (ggml ne[1]). */
  readonly rows: number;
  /** Input length (ggml ne[0]). */
  readonly cols: number;
  readonly rowBytes: number;
  /**
   * The type's kernels for a matrix of this many rows (see GgmlTypeTraits.repackRows); `repack`, when the
   * matrix is rewritten into its kernels' layout once its plain rows are in place.
   */
  readonly kernels: { readonly matvec: MatvecKernel; readonly matmul?: MatmulKernel; readonly repack?: RepackKernel };
  /** A batch of two or more rows sums in tinyBLAS's order (matmul), a lone row in vec_dot's (matvec). */
  readonly tinyBlas?: boolean;
  readonly shards: readonly MatrixShard[];
}

/**
 * How llama.cpp multiplies by a matrix, which decides the order ggml-cpu sums in: `mul_mat` for a 2-D weight
 * (repacked when its type and row count allow; tinyBLAS for a batch when its shape does), `mul_mat_broadcast`
 * for a slice of a 3-D stack that mul_mat broadcasts (MLA's per-head attn_k_b: never repacked, tinyBLAS for a
 * batch), `mul_mat_id` for a mixture's experts (repacked as 2-D weights are; never tinyBLAS).
 */
export type GgmlMatMulOp = "mul_mat" | "mul_mat_broadcast" | "mul_mat_id";

/** Balanced contiguous row ranges, one per thread; with `unit`, every range starts at a multiple of it. */
export function splitRows(rows: number, threads: number, unit = 1): [start: number, end: number][] {
  const units = Math.ceil(rows / unit);
  const at = (t: number) => Math.min(rows, Math.floor((units * t) / threads) * unit);
  return Array.from({ length: threads }, (_, t) => [at(t), at(t + 1)]);
}

/** Rows of a repacked matrix's groups (GgmlTypeTraits.repackRows), or undefined for plain rows. */
function groupRows(type: GgmlTypeTraits, rows: number): number | undefined {
  return type.repackRows !== undefined && rows % type.repackRows === 0 ? type.repackRows : undefined;
}

interface Scratch {
  /** Activations as floats (used on the main thread's first arena). */
  readonly floats: number;
  /** Activations converted to the vecDotType (one row every rowBytes(vecDotType, cols)) and their scales (ActivationTraits). */
  readonly input: number;
  readonly scales: number;
  /** Output of this arena's shard: one row of `rows` floats per activation row. */
  readonly output: number;
  /** The matmul kernels' own scratch (the Q4_0 one interleaves activation scales there). */
  readonly kernel: number;
}

export interface MatMulPlan {
  /** Largest input length (columns). */
  readonly maxCols: number;
  /** Largest output length (rows). */
  readonly maxRows: number;
  /** Most activation rows in one product (prefill batch). Default 1. */
  readonly maxBatch?: number;
}

/** Matrix products on a pool, with scratch planned for the largest product up front. */
export class MatMul {
  private readonly scratch = new Map<Arena, Scratch>();
  readonly maxBatch: number;

  constructor(
    readonly pool: WorkerPool,
    readonly plan: MatMulPlan,
  ) {
    this.maxBatch = plan.maxBatch ?? 1;
    // The main thread converts activations in its first arena's scratch: sized for it now.
    this.scratchOf(pool.arenasOf(0)[0] ?? pool.addArena(0, this.scratchBytes()));
  }

  private scratchOf(arena: Arena): Scratch {
    let s = this.scratch.get(arena);
    if (!s) {
      const { maxCols, maxRows } = this.plan;
      const n = this.maxBatch;
      s = {
        floats: arena.alloc(n * maxCols * 4),
        input: arena.alloc(n * maxCols * 4),
        scales: arena.alloc(this.scalesRegionBytes()),
        output: arena.alloc(n * maxRows * 4),
        kernel: arena.alloc(this.kernelScratchBytes()),
      };
      this.scratch.set(arena, s);
    }
    return s;
  }

  /**
   * Plans memory before anything is read: for every thread, the bytes of its row shards of all these matrices
   * plus scratch, packed into as few arenas (≤ 4 GiB each) as hold them, created now at their final size.
   * The allocations that follow fill them without growing a memory. Returns each thread's planned bytes.
   */
  reserve(specs: readonly { type: GgmlTypeTraits; rows: number; cols: number; owner?: number }[]): number[] {
    const room = 2 ** 32 - KERNEL_RESERVED_BYTES - this.scratchBytes() - 65536;
    return Array.from({ length: this.pool.threads }, (_, thread) => {
      const arenas: number[] = [0];
      for (const { type, rows, cols, owner } of specs) {
        const [start, end] = this.split(type, rows, owner)[thread];
        const bytes = align64((end - start) * rowBytes(type, cols));
        if (bytes > room) throw new RangeError(`a ${type.name} shard of ${bytes} bytes does not fit one 4 GiB arena`);
        if (arenas[arenas.length - 1] + bytes > room) arenas.push(0);
        arenas[arenas.length - 1] += bytes;
      }
      for (const bytes of arenas) this.scratchOf(this.pool.addArena(thread, bytes + this.scratchBytes()));
      return arenas.reduce((a, b) => a + b, 0) + arenas.length * this.scratchBytes();
    });
  }

  /** Rows per thread: balanced (whole groups of a repacked matrix), or all on `owner`. */
  private split(type: GgmlTypeTraits, rows: number, owner?: number): [number, number][] {
    if (owner === undefined) return splitRows(rows, this.pool.threads, groupRows(type, rows));
    if (!(Number.isInteger(owner) && owner >= 0 && owner < this.pool.threads)) throw new RangeError(`owner thread ${owner} is not one of the pool's ${this.pool.threads}`);
    return Array.from({ length: this.pool.threads }, (_, t) => (t === owner ? [0, rows] : [0, 0]));
  }

  /**
   * Reserves a matrix's shards, each in the first of its owner's arenas with room (a new arena if none has):
   * rows split evenly across the threads, or all of them on thread `owner` (for batchEach); summed in the order
   * llama.cpp's `op` sums it in (GgmlMatMulOp).
   */
  alloc(type: GgmlTypeTraits, rows: number, cols: number, { owner, op = "mul_mat" }: { owner?: number; op?: GgmlMatMulOp } = {}): ShardedMatrix {
    if (!type.matvec || !type.vecDotType) throw new Error(`no matrix-vector kernel for type ${type.name}`);
    if (cols % type.blockSize !== 0) throw new RangeError(`${cols} columns is not a multiple of ${type.name}'s block of ${type.blockSize}`);
    if (cols > this.plan.maxCols || rows > this.plan.maxRows) {
      throw new RangeError(`matrix ${rows}×${cols} exceeds the planned ${this.plan.maxRows}×${this.plan.maxCols}`);
    }
    const bytesPerRow = rowBytes(type, cols);
    const shards = this.split(type, rows, owner).map(([start, end], thread) => {
      const bytes = (end - start) * bytesPerRow;
      const fits = (a: Arena) => (this.scratch.has(a) ? 0 : this.scratchBytes()) + align64(a.used) + bytes <= a.memory.buffer.byteLength;
      const arena = this.pool.arenasOf(thread).find(fits) ?? this.pool.addArena(thread, bytes + this.scratchBytes());
      this.scratchOf(arena);
      return { thread, arena, offset: arena.alloc(bytes), rowStart: start, rows: end - start };
    });
    // batchedWhen marks the types whose matmul is tinyBLAS's, which mul_mat_id never calls.
    const tinyBlas = type.batchedWhen !== undefined && op !== "mul_mat_id" && type.batchedWhen(rows, cols);
    const kernels = (groupRows(type, rows) !== undefined && op !== "mul_mat_broadcast") || !type.unpacked
      ? { matvec: type.matvec, matmul: type.batchedWhen === undefined || tinyBlas ? type.matmul : undefined, repack: type.repack }
      : type.unpacked;
    return { type, rows, cols, rowBytes: bytesPerRow, kernels, tinyBlas, shards };
  }

  /** Bytes of one arena's scratch, 64-byte alignment of its five regions included. */
  private scratchBytes(): number {
    const { maxCols, maxRows } = this.plan;
    const n = this.maxBatch;
    return align64(n * maxCols * 4) * 2 + align64(this.scalesRegionBytes()) + align64(this.kernelScratchBytes()) + align64(n * maxRows * 4) + 320;
  }

  /** Scales of a batch of activation rows, of whichever activation type (inputs hold at most 4 bytes an element, as floats do). */
  private scalesRegionBytes(): number {
    return Math.ceil(this.maxBatch * this.plan.maxCols * MAX_SCALE_BYTES_PER_ELEMENT) + 64;
  }

  /** The kernels' own scratch: a batch's activation scales (the Q4_0 matmul interleaves them there) or a repack's group of rows. */
  private kernelScratchBytes(): number {
    return Math.max(this.scalesRegionBytes(), repackScratchBytes(this.plan.maxCols)) + 64;
  }

  /** Copies a whole matrix (rows × rowBytes, row-major, the file's layout) into its shards. */
  set(m: ShardedMatrix, bytes: Uint8Array): void {
    if (bytes.length !== m.rows * m.rowBytes) throw new RangeError(`${bytes.length} bytes for a ${m.rows}×${m.rowBytes}-byte matrix`);
    for (const s of m.shards) s.arena.bytes.set(bytes.subarray(s.rowStart * m.rowBytes, (s.rowStart + s.rows) * m.rowBytes), s.offset);
    this.repack(m);
  }

  /** Rewrites a matrix whose kernels take another layout than the file's, each thread its own shard at once. */
  private repack(m: ShardedMatrix): void {
    if (m.kernels.repack === undefined) return;
    this.pool.run(m.shards.map((s) => {
      const call = s.rows > 0 ? this.repackCall(m, s) : undefined;
      return call ? { fn: call.fn, arena: s.arena.index, args: call.args } : null;
    }));
  }

  /** The repack kernel's call for shard s, if m's kernels take another layout than the file's. */
  private repackCall(m: ShardedMatrix, s: MatrixShard): { fn: KernelName; args: number[] } | undefined {
    if (m.kernels.repack === undefined) return undefined;
    return { fn: m.kernels.repack, args: [s.offset, m.rowBytes, s.rows, this.scratchOf(s.arena).kernel] };
  }

  /**
   * Reads matrices stored row-major in a file (each at its `position`): every thread reads its own rows of all
   * of them in one dispatch, so no thread waits for another between matrices, and rewrites each shard of a
   * repacked matrix as soon as it is read. `onProgress` hears the fraction of the main thread's bytes read and
   * rewritten (the other threads read alike).
   */
  load(path: string, matrices: readonly { readonly m: ShardedMatrix; readonly position: number }[], onProgress?: (fraction: number) => void): void {
    const reads: FileRead[][] = Array.from({ length: this.pool.threads }, () => []);
    for (const { m, position } of matrices) {
      for (const s of m.shards) {
        if (s.rows === 0) continue;
        reads[s.thread].push({
          arena: s.arena.index, offset: s.offset, position: position + s.rowStart * m.rowBytes, length: s.rows * m.rowBytes,
          then: this.repackCall(m, s),
        });
      }
    }
    const mainBytes = reads[0].reduce((n, r) => n + r.length, 0);
    let done = 0;
    this.pool.readFile(path, reads, onProgress && ((bytes) => onProgress((done += bytes) / mainBytes)));
  }

  /** out = m · x for one activation row (decode). */
  vec(m: ShardedMatrix, x: Float32Array, out: Float32Array): void {
    this.batch(m, x, 1, out);
  }

  /**
   * out[c·rows + r] = row r of m · x[c·cols …] for n activation rows (prefill); one dispatch for all of them,
   * through the type's matmul kernel when it has one, else its matvec per row.
   */
  batch(m: ShardedMatrix, x: Float32Array, n: number, out: Float32Array): void {
    if (out.length !== n * m.rows) throw new RangeError(`product of ${m.rows}×${m.cols} with ${n} rows: out[${out.length}]`);
    this.stage(m, x, n);
    if (n === 1 || !m.kernels.matmul) {
      // One dispatch per activation row through the matrix-vector kernel (types without a batched kernel).
      for (let c = 0; c < n; c++) this.pool.run(m.shards.map((s) => (s.rows > 0 ? this.matvecCall(m, s, c) : null)));
    } else {
      this.pool.run(m.shards.map((s) => (s.rows > 0 ? this.matmulCall(m, s, n) : null)));
    }
    this.gather(m, n, out);
  }

  /**
   * Several products in one dispatch, each matrix held whole by its own thread (alloc's `owner`), no two on
   * one thread: whole experts on their threads. Each gives what batch() would.
   */
  batchEach(products: readonly { readonly m: ShardedMatrix; readonly x: Float32Array; readonly n: number; readonly out: Float32Array }[]): void {
    const main = this.pool.arenasOf(0)[0];
    const owned = products.map((p) => ({ ...p, shard: p.m.shards.find((s) => s.rows > 0)! }));
    if (owned.some((p) => p.shard.rows !== p.m.rows || (p.n > 1 && !p.m.kernels.matmul))) {
      throw new RangeError("batchEach takes whole matrices with a batched kernel (or one activation row)");
    }
    // The main arena's scratch stages every conversion, so the product that runs from it is staged last.
    owned.sort((a, b) => Number(a.shard.arena === main) - Number(b.shard.arena === main));
    const calls: (Call | null)[] = Array.from({ length: this.pool.threads }, () => null);
    for (const p of owned) {
      if (calls[p.shard.thread]) throw new RangeError(`two products in one batchEach on thread ${p.shard.thread}`);
      this.stage(p.m, p.x, p.n);
      calls[p.shard.thread] = p.n === 1 ? this.matvecCall(p.m, p.shard, 0) : this.matmulCall(p.m, p.shard, p.n);
    }
    this.pool.run(calls);
    for (const p of owned) this.gather(p.m, p.n, p.out);
  }

  /** Converts n activation rows (floats) to m's vecDotType on the main thread and copies them to every arena holding a shard. */
  private stage(m: ShardedMatrix, x: Float32Array, n: number): void {
    if (x.length !== n * m.cols) throw new RangeError(`product of ${m.rows}×${m.cols} with ${n} rows: x[${x.length}]`);
    if (n > this.maxBatch) throw new RangeError(`${n} activation rows exceed the planned batch of ${this.maxBatch}`);
    const activation = activationOf(m.type);
    const main = this.pool.arenasOf(0)[0];
    const ms = this.scratchOf(main);
    const inputStride = rowBytes(activation, m.cols);
    const scalesStride = scalesBytes(m.type, m.cols);
    new Float32Array(main.memory.buffer, ms.floats, x.length).set(x);
    const convert = this.pool.mainKernelsOf(0)[activation.activation.convert];
    for (let c = 0; c < n; c++) convert(ms.input + c * inputStride, ms.scales + c * scalesStride, ms.floats + c * m.cols * 4, m.cols);
    for (const s of m.shards) {
      if (s.arena === main || s.rows === 0) continue;
      const sc = this.scratchOf(s.arena);
      s.arena.bytes.set(main.bytes.subarray(ms.input, ms.input + n * inputStride), sc.input);
      s.arena.bytes.set(main.bytes.subarray(ms.scales, ms.scales + n * scalesStride), sc.scales);
    }
  }

  /** Shard s's matrix-vector call for staged activation row c. */
  private matvecCall(m: ShardedMatrix, s: MatrixShard, c: number): Call {
    const sc = this.scratchOf(s.arena);
    const inputStride = rowBytes(activationOf(m.type), m.cols);
    const args = [sc.output + c * s.rows * 4, s.offset, m.rowBytes, sc.input + c * inputStride, sc.scales + c * scalesBytes(m.type, m.cols), m.cols / m.type.blockSize, 0, s.rows];
    return { fn: m.kernels.matvec, arena: s.arena.index, args };
  }

  /** Shard s's matrix-matrix call for n staged activation rows. */
  private matmulCall(m: ShardedMatrix, s: MatrixShard, n: number): Call {
    const sc = this.scratchOf(s.arena);
    const inputStride = rowBytes(activationOf(m.type), m.cols);
    const args = [sc.output, s.rows, s.offset, m.rowBytes, sc.input, inputStride, sc.scales, m.cols / m.type.blockSize, 0, s.rows, n, sc.kernel];
    return { fn: m.kernels.matmul!, arena: s.arena.index, args };
  }

  /** Gathers every shard's output rows into out (n × m.rows). */
  private gather(m: ShardedMatrix, n: number, out: Float32Array): void {
    if (out.length !== n * m.rows) throw new RangeError(`product of ${m.rows}×${m.cols} with ${n} rows: out[${out.length}]`);
    for (const s of m.shards) {
      if (s.rows === 0) continue;
      const rows = new Float32Array(s.arena.memory.buffer, this.scratchOf(s.arena).output, n * s.rows);
      for (let c = 0; c < n; c++) out.set(rows.subarray(c * s.rows, (c + 1) * s.rows), c * m.rows + s.rowStart);
    }
  }
}
