// Matrices split by rows across the pool's threads: thread t owns rows [rowStart, rowStart + rows) in one of
// its arenas. A matrix-vector product converts the activations once (on the main thread, to the weight type's
// vecDotType), copies them into every arena that holds a shard, runs every shard at once, and gathers the rows.
// Nothing here branches on a tensor type: the type-traits table names the kernels.
import { ACTIVATION_TYPES, type GgmlTypeTraits } from "../ggmlTypes.js";
import type { Arena, KernelName, WorkerPool } from "./workerPool.js";

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
  readonly shards: readonly MatrixShard[];
}

/** Balanced contiguous row ranges, one per thread. */
export function splitRows(rows: number, threads: number): [start: number, end: number][] {
  return Array.from({ length: threads }, (_, t) => [Math.floor((rows * t) / threads), Math.floor((rows * (t + 1)) / threads)]);
}

interface Scratch {
  /** Activations as floats (main thread's arena 0 only). */
  readonly floats: number;
  /** Activations converted to the vecDotType, and Q8_0 block sums. */
  readonly input: number;
  readonly sums: number;
  /** Output rows of this arena's shard. */
  readonly output: number;
}

/** Matrix-vector products on a pool; scratch space for inputs up to maxCols and outputs up to maxRows. */
export class MatVec {
  private readonly scratch = new Map<Arena, Scratch>();

  constructor(
    readonly pool: WorkerPool,
    readonly maxCols: number,
    readonly maxRows: number,
  ) {
    if (pool.arenasOf(0).length === 0) pool.addArena(0, 0);
  }

  private scratchOf(arena: Arena): Scratch {
    let s = this.scratch.get(arena);
    if (!s) {
      s = {
        floats: arena.alloc(this.maxCols * 4),
        input: arena.alloc(this.maxCols * 4),
        sums: arena.alloc((this.maxCols / 32) * 4 + 64),
        output: arena.alloc(this.maxRows * 4),
      };
      this.scratch.set(arena, s);
    }
    return s;
  }

  /** Reserves a matrix's shards, each in its owner's newest arena (a new one when that would pass 4 GiB). */
  alloc(type: GgmlTypeTraits, rows: number, cols: number): ShardedMatrix {
    if (!type.matvec || !type.vecDotType) throw new Error(`no matrix-vector kernel for type ${type.name}`);
    if (cols % type.blockSize !== 0) throw new RangeError(`${cols} columns is not a multiple of ${type.name}'s block of ${type.blockSize}`);
    if (cols > this.maxCols || rows > this.maxRows) throw new RangeError(`matrix ${rows}×${cols} exceeds the planned ${this.maxRows}×${this.maxCols}`);
    const rowBytes = (cols / type.blockSize) * type.typeSize;
    const shards = splitRows(rows, this.pool.threads).map(([start, end], thread) => {
      const bytes = (end - start) * rowBytes;
      const arenas = this.pool.arenasOf(thread);
      let arena = arenas[arenas.length - 1];
      if (!arena || arena.used + bytes + 1024 > 2 ** 32 - 65536) arena = this.pool.addArena(thread, bytes);
      this.scratchOf(arena);
      return { thread, arena, offset: arena.alloc(bytes), rowStart: start, rows: end - start };
    });
    return { type, rows, cols, rowBytes, shards };
  }

  /** Copies a whole matrix (rows × rowBytes, row-major) into its shards. */
  set(m: ShardedMatrix, bytes: Uint8Array): void {
    if (bytes.length !== m.rows * m.rowBytes) throw new RangeError(`${bytes.length} bytes for a ${m.rows}×${m.rowBytes}-byte matrix`);
    for (const s of m.shards) s.arena.bytes.set(bytes.subarray(s.rowStart * m.rowBytes, (s.rowStart + s.rows) * m.rowBytes), s.offset);
  }

  /** Reads a matrix stored row-major at `position` in a file: every thread reads its own rows, at once. */
  load(m: ShardedMatrix, path: string, position: number): void {
    const reads = Array.from({ length: this.pool.threads }, (_, t) => {
      const s = m.shards.find((x) => x.thread === t);
      return s && s.rows > 0 ? { arena: s.arena.index, offset: s.offset, position: position + s.rowStart * m.rowBytes, length: s.rows * m.rowBytes } : null;
    });
    this.pool.readFile(path, reads);
  }

  /** out = m · x (out.length = m.rows, x.length = m.cols). */
  run(m: ShardedMatrix, x: Float32Array, out: Float32Array): void {
    if (x.length !== m.cols || out.length !== m.rows) throw new RangeError(`matvec ${m.rows}×${m.cols} with x[${x.length}], out[${out.length}]`);
    const activation = ACTIVATION_TYPES[m.type.vecDotType!];
    const main = this.pool.arenasOf(0)[0];
    const ms = this.scratchOf(main);
    new Float32Array(main.memory.buffer, ms.floats, x.length).set(x);
    const convert = this.pool.mainKernelsOf(0)[activation.convert as "quantizeRowQ8_0"];
    convert(ms.input, ms.sums, ms.floats, x.length);
    const inputBytes = activation.bytes(x.length);
    const sumsBytes = (x.length / 32) * 4;
    const calls = m.shards.map((s) => {
      const sc = this.scratchOf(s.arena);
      if (s.arena !== main) {
        s.arena.bytes.set(main.bytes.subarray(ms.input, ms.input + inputBytes), sc.input);
        s.arena.bytes.set(main.bytes.subarray(ms.sums, ms.sums + sumsBytes), sc.sums);
      }
      const args = [sc.output, s.offset, m.rowBytes, sc.input, sc.sums, m.cols / m.type.blockSize, 0, s.rows];
      return s.rows > 0 ? { fn: m.type.matvec as KernelName, arena: s.arena.index, args } : null;
    });
    this.pool.run(calls);
    for (const s of m.shards) out.set(new Float32Array(s.arena.memory.buffer, this.scratchOf(s.arena).output, s.rows), s.rowStart);
  }
}
