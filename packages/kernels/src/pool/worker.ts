// A pool worker: pins itself to its CPU, instantiates the kernels on each arena it owns, then waits for calls
// on the control block until told to exit. Load-time work (reading its weight shard from the file) happens
// here too, so the pages are first touched by the thread that will use them (NUMA-local when pinned).
import { runAttentionRows } from "../attention.js";
import { instantiateKernels } from "../wasm/wasmKernels.js";
import { callKernel, KERNEL_NAMES, type KernelExports } from "../wasm/kernelTable.js";
import { readRangesInto, type FileRead } from "./readFileInto.js";
import { pinThisThread } from "../system/pinThisThread.js";
import { parentPort, receiveMessageOnPort, workerData, type MessagePort } from "node:worker_threads";
import {
  ERROR_AT, ERROR_LENGTH, ERROR_THREAD, GENERATION, MAX_ARGS, OP_ADD_ARENA, OP_ATTEND_ROWS, OP_EXIT, OP_NOP, OP_READ_FILE,
  REMAINING, slotAt, TEXT_BYTES, waitForChange,
} from "./controlBlock.js";

interface WorkerInit {
  readonly thread: number;
  readonly module: WebAssembly.Module;
  readonly control: SharedArrayBuffer;
  readonly cpu: number | undefined;
  readonly port: MessagePort;
}

const init = workerData as WorkerInit;
const ctl = new Int32Array(init.control);
const errorText = new Uint8Array(init.control, ERROR_AT, TEXT_BYTES);
const memories: WebAssembly.Memory[] = [];
const kernels: KernelExports[] = [];

/** The message the main thread posted on this worker's port just before the op that takes it. */
function portMessage<T>(op: string): T {
  const message = receiveMessageOnPort(init.port);
  if (!message) throw new Error(`${op} without its message on the port`);
  return message.message as T;
}

function run(op: number, arena: number, args: Int32Array): void {
  if (op === OP_NOP) return;
  if (op === OP_ADD_ARENA) {
    const memory = portMessage<WebAssembly.Memory>("OP_ADD_ARENA");
    memories.push(memory);
    kernels.push(instantiateKernels(init.module, memory));
    return;
  }
  if (op === OP_ATTEND_ROWS) {
    runAttentionRows(kernels[arena], memories[arena], args[0] >>> 0);
    return;
  }
  if (op === OP_READ_FILE) {
    const { path, reads } = portMessage<{ path: string; reads: FileRead[] }>("OP_READ_FILE");
    readRangesInto(path, reads.map((r) => ({
      view: new Uint8Array(memories[r.arena].buffer, r.offset, r.length),
      position: r.position,
      then: r.then && (() => callKernel(kernels[r.arena], r.then!.fn, r.then!.args)),
    })));
    return;
  }
  // Arguments are offsets (u32) and counts; the kernels take them as i32 and reinterpret.
  callKernel(kernels[arena], KERNEL_NAMES[op], args);
}

// Read the generation before saying ready: the main thread's first dispatch may follow at once.
let generation = Atomics.load(ctl, GENERATION);
parentPort!.postMessage({ pinning: pinThisThread(init.cpu) });

for (;;) {
  let next: number;
  do next = waitForChange(ctl, GENERATION, generation);
  while (next === generation);
  generation = next;
  const at = slotAt(init.thread);
  const op = ctl[at];
  if (op === OP_EXIT) break;
  try {
    run(op, ctl[at + 1], ctl.subarray(at + 2, at + 2 + MAX_ARGS));
  } catch (e) {
    if (Atomics.compareExchange(ctl, ERROR_THREAD, 0, init.thread + 1) === 0) {
      const message = new TextEncoder().encode(`worker ${init.thread}: ${(e as Error).message}`);
      errorText.set(message.subarray(0, TEXT_BYTES));
      ctl[ERROR_LENGTH] = Math.min(message.length, TEXT_BYTES);
    }
  }
  if (Atomics.sub(ctl, REMAINING, 1) === 1) Atomics.notify(ctl, REMAINING);
}
