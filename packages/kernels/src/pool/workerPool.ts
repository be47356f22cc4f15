// A pool of persistent worker threads that share WebAssembly memories with the main thread. Thread 0 is the
// main thread itself (it does its share of every op instead of sleeping through it); threads 1..n-1 are
// workers, each pinned to its own physical core when it can be. Every thread owns arenas: shared wasm32
// memories (at most 4 GiB each) holding its row shard of each matrix, first touched by itself.
import type { WasmMemory, WasmModule } from "../wasm/wasmTypes.js";
import { MessageChannel, Worker, type MessagePort } from "node:worker_threads";
import { readRangesInto, type FileRead } from "./readFileInto.js";
import { pinThisThread } from "../system/pinThisThread.js";
import { runAttentionRows } from "../attention.js";
import {
  chooseKernels, instantiateKernels, KERNEL_RESERVED_BYTES, kernelModule, sharedMemory, type KernelChoice, type KernelExports,
} from "../wasm/wasmKernels.js";
import { callKernel, KERNEL_NAMES, type KernelName } from "../wasm/kernelTable.js";
import {
  CONTROL_BYTES, ERROR_AT, ERROR_LENGTH, ERROR_THREAD, GENERATION, MAX_ARGS, MAX_THREADS, OP_ADD_ARENA, OP_EXIT,
  OP_ATTEND_ROWS, OP_NOP, OP_READ_FILE, REMAINING, slotAt, TEXT_BYTES, waitForChange,
} from "./controlBlock.js";

export interface Call {
  readonly fn: KernelName;
  /** Index of the arena among the calling thread's own arenas. */
  readonly arena: number;
  readonly args: readonly number[];
}

export interface PoolOptions {
  /** Threads including the main thread. Default: one per CPU in `cpus`, else 1. */
  readonly threads?: number;
  /** CPU for each thread (thread i ≥ 1 pins to cpus[i]; thread 0, the calling thread, only with pinCaller). */
  readonly cpus?: readonly number[];
  /**
   * Pin the calling thread (thread 0) to cpus[0] too: for a thread that only runs the engine (engine-serve's),
   * never for an application's main thread, which must stay free to run elsewhere.
   */
  readonly pinCaller?: boolean;
  /** Milliseconds a dispatch may wait for the workers before it fails. Default 120 s. */
  readonly timeoutMs?: number;
}

const PAGE = 65536;
const WASM32_MAX = 65536 * PAGE;

export class Arena {
  /** Bytes handed out so far, after the kernels' reserved start (guard page and half → float table). */
  used = KERNEL_RESERVED_BYTES;
  constructor(
    readonly thread: number,
    readonly index: number,
    readonly memory: WasmMemory,
  ) {}

  get bytes(): Uint8Array {
    return new Uint8Array(this.memory.buffer);
  }

  /** Reserves n bytes (64-byte aligned), growing the memory when needed; returns the offset. */
  alloc(n: number): number {
    const at = Math.ceil(this.used / 64) * 64;
    if (at + n > WASM32_MAX) throw new RangeError(`arena ${this.thread}.${this.index} would pass 4 GiB (${at + n} bytes)`);
    const needPages = Math.ceil((at + n) / PAGE) - this.memory.buffer.byteLength / PAGE;
    if (needPages > 0) this.memory.grow(needPages);
    this.used = at + n;
    return at;
  }
}

export class WorkerPool {
  private readonly ctl: Int32Array;
  private readonly arenas: Arena[][];
  private readonly mainKernels: KernelExports[] = [];
  private closed = false;

  private constructor(
    readonly choice: KernelChoice,
    private readonly module: WasmModule,
    private readonly control: SharedArrayBuffer,
    private readonly workers: { worker: Worker; port: MessagePort }[],
    /** What happened when each thread tried to pin itself. */
    readonly pinning: readonly string[],
    private readonly timeoutMs: number,
  ) {
    this.ctl = new Int32Array(control);
    this.arenas = Array.from({ length: workers.length + 1 }, () => []);
  }

  /** Starts the workers and waits until each has pinned itself and is waiting for work. */
  static async create(options: PoolOptions = {}): Promise<WorkerPool> {
    const threads = options.threads ?? options.cpus?.length ?? 1;
    if (!Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS) throw new RangeError(`threads must be 1..${MAX_THREADS}, got ${threads}`);
    const choice = chooseKernels();
    const module = kernelModule(choice.variant)!;
    const control = new SharedArrayBuffer(CONTROL_BYTES);
    const workerUrl = new URL("../../dist/pool/worker.js", import.meta.url);
    const started = Array.from({ length: threads - 1 }, (_, i) => {
      const { port1, port2 } = new MessageChannel();
      const thread = i + 1;
      const worker = new Worker(workerUrl, {
        workerData: { thread, module, control, cpu: options.cpus?.[thread], port: port2 },
        transferList: [port2],
      });
      const ready = new Promise<string>((resolve, reject) => {
        worker.once("message", (m: { pinning: string }) => resolve(m.pinning));
        worker.once("error", reject);
        worker.once("exit", (code) => reject(new Error(`pool worker ${thread} exited with code ${code} while starting`)));
      });
      return { worker, port: port1, ready };
    });
    let pinning: string[];
    try {
      const caller = options.pinCaller ? `calling thread: ${pinThisThread(options.cpus?.[0])}` : "main thread: not pinned (it runs the application)";
      pinning = [caller, ...(await Promise.all(started.map((s) => s.ready)))];
    } catch (e) {
      await Promise.all(started.map((s) => s.worker.terminate()));
      throw e;
    }
    for (const s of started) s.worker.removeAllListeners();
    return new WorkerPool(choice, module, control, started, pinning, options.timeoutMs ?? 120_000);
  }

  get threads(): number {
    return this.workers.length + 1;
  }

  arenasOf(thread: number): readonly Arena[] {
    return this.arenas[thread];
  }

  /** A new arena owned by a thread, sized for `bytes` up front (pages are committed when first touched). */
  addArena(thread: number, bytes: number): Arena {
    const memory = sharedMemory(Math.ceil((bytes + KERNEL_RESERVED_BYTES) / PAGE));
    const arena = new Arena(thread, this.arenas[thread].length, memory);
    if (thread === 0) {
      this.mainKernels.push(instantiateKernels(this.module, memory));
    } else {
      this.workers[thread - 1].port.postMessage(memory);
      this.dispatchOps(this.only(thread, { op: OP_ADD_ARENA, arena: 0, args: [] }));
    }
    this.arenas[thread].push(arena);
    return arena;
  }

  /**
   * Runs one attention job per thread (null: that thread idles), each written by the caller into one of that
   * thread's own arenas at `job` (attention.ts ATTENTION_ROWS), and returns when all are done.
   */
  attendRows(jobs: readonly ({ readonly arena: number; readonly job: number } | null)[]): void {
    this.dispatchOps(
      jobs.map((j) => (j ? { op: OP_ATTEND_ROWS, arena: j.arena, args: [j.job] } : null)),
      (op) => runAttentionRows(this.mainKernels[op.arena], this.arenas[0][op.arena].memory, op.args[0]),
    );
  }

  /** Runs one call per thread (null: that thread idles) and returns when all are done. */
  run(calls: readonly (Call | null)[]): void {
    this.dispatchOps(calls.map((c) => (c ? { op: KERNEL_NAMES.indexOf(c.fn), arena: c.arena, args: c.args } : null)));
  }

  /** Kernels of one of the main thread's arenas, for work it does alone (converting activations). */
  mainKernelsOf(arena: number): KernelExports {
    return this.mainKernels[arena];
  }

  /**
   * Reads ranges of a file into arenas: reads[t] lists thread t's own (first touch by the owner), and every
   * thread works through its list at once, in one dispatch, each range's `then` kernel after its read.
   * `onMainRead` hears the main thread's progress in bytes, the others' being alike.
   */
  readFile(path: string, reads: readonly (readonly FileRead[])[], onMainRead?: (bytes: number) => void): void {
    if (reads.length > this.threads) throw new RangeError(`${reads.length} read lists for ${this.threads} threads`);
    for (let t = 1; t < reads.length; t++) if (reads[t].length > 0) this.workers[t - 1].port.postMessage({ path, reads: reads[t] });
    this.dispatchOps(
      Array.from({ length: this.threads }, (_, t) => (reads[t]?.length ? { op: OP_READ_FILE, arena: 0, args: [] } : null)),
      () => readRangesInto(path, reads[0].map((r) => ({
        view: new Uint8Array(this.arenas[0][r.arena].memory.buffer, r.offset, r.length),
        position: r.position,
        then: r.then && (() => callKernel(this.mainKernels[r.arena], r.then!.fn, r.then!.args)),
      })), onMainRead),
    );
  }

  private only(thread: number, op: Op): (Op | null)[] {
    return Array.from({ length: this.threads }, (_, t) => (t === thread ? op : null));
  }

  private dispatchOps(ops: readonly (Op | null)[], mainSpecial?: (op: Op) => void): void {
    if (this.closed) throw new Error("the worker pool is closed");
    if (ops.length > this.threads) throw new RangeError(`${ops.length} calls for ${this.threads} threads`);
    const ctl = this.ctl;
    for (let t = 1; t < this.threads; t++) {
      const at = slotAt(t);
      const op = ops[t] ?? null;
      ctl[at] = op ? op.op : OP_NOP;
      ctl[at + 1] = op ? op.arena : 0;
      if (op) {
        if (op.args.length > MAX_ARGS) throw new RangeError(`at most ${MAX_ARGS} arguments`);
        for (let i = 0; i < op.args.length; i++) ctl[at + 2 + i] = op.args[i];
      }
    }
    Atomics.store(ctl, ERROR_THREAD, 0);
    Atomics.store(ctl, REMAINING, this.threads - 1);
    Atomics.add(ctl, GENERATION, 1);
    Atomics.notify(ctl, GENERATION);

    let mainError: unknown;
    const mine = ops[0];
    if (mine && mine.op !== OP_NOP) {
      try {
        if (mine.op >= 0) callKernel(this.mainKernels[mine.arena], KERNEL_NAMES[mine.op], mine.args);
        else mainSpecial!(mine);
      } catch (e) {
        mainError = e;
      }
    }
    const deadline = Date.now() + this.timeoutMs;
    for (let left = Atomics.load(ctl, REMAINING); left > 0; ) {
      left = waitForChange(ctl, REMAINING, left, Math.max(1, deadline - Date.now()));
      if (left > 0 && Date.now() >= deadline) throw new Error(`pool workers did not finish within ${this.timeoutMs} ms (${left} still busy)`);
    }
    if (mainError) throw mainError;
    if (Atomics.load(ctl, ERROR_THREAD) !== 0) {
      throw new Error(new TextDecoder().decode(new Uint8Array(this.control, ERROR_AT, TEXT_BYTES).slice(0, ctl[ERROR_LENGTH])));
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    const exits = this.workers.map((w) => new Promise((resolve) => w.worker.once("exit", resolve)));
    for (let t = 1; t < this.threads; t++) this.ctl[slotAt(t)] = OP_EXIT;
    Atomics.add(this.ctl, GENERATION, 1);
    Atomics.notify(this.ctl, GENERATION);
    this.closed = true;
    await Promise.all(exits);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

interface Op {
  readonly op: number;
  readonly arena: number;
  readonly args: readonly number[];
}
