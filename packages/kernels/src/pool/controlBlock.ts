// The pool's shared control block: how the main thread hands every worker one call and waits for all of them,
// with Atomics.wait/notify (never spinning: on 2 cores a spinning pool collapses as soon as anything else runs).
//
// Int32 layout: GENERATION is bumped once per dispatch (workers wait on it); REMAINING counts workers still
// busy (the last one notifies the main thread); ERROR_THREAD is 1 + the thread that failed, its message is in
// the error text area. Each worker has a slot: an op code, an arena index and up to MAX_ARGS i32 arguments.

export const GENERATION = 0;
export const REMAINING = 1;
export const ERROR_THREAD = 2;
export const ERROR_LENGTH = 3;

export const MAX_ARGS = 12;
export const SLOT_INTS = 2 + MAX_ARGS; // op, arena, args
export const SLOTS_AT = 16;
export const MAX_THREADS = 256;
/** Byte offset of the text area after the slots: the first error's message. */
export const ERROR_AT = (SLOTS_AT + MAX_THREADS * SLOT_INTS) * 4;
export const TEXT_BYTES = 4096;
export const CONTROL_BYTES = ERROR_AT + TEXT_BYTES;

/** Ops that are not kernel exports (kernel ops are indices into the export-name list, from 0). */
export const OP_NOP = -1;
export const OP_EXIT = -2;
/** Read file ranges into the worker's arenas: the path and the list come as one message on its port. */
export const OP_READ_FILE = -3;
/** Take a new arena's memory from the worker's message port (receiveMessageOnPort). */
export const OP_ADD_ARENA = -4;
/** Attention over the worker's own KV heads (attention.ts runAttentionRows): args (job offset in the arena). */
export const OP_ATTEND_ROWS = -5;

export const slotAt = (thread: number) => SLOTS_AT + thread * SLOT_INTS;

/**
 * Polls before sleeping: waking a sleeping thread costs 40-70 µs on this VM (a futex wake and a vCPU IPI),
 * more than a small op takes, while ops of one forward pass come back to back. So a waiter first polls for
 * about this many loads (tens of µs) and only then calls Atomics.wait: bounded, so a pool never spins long
 * on a CPU that something else needs.
 */
export const SPIN_LOADS = 20_000;

const pause = (Atomics as unknown as { pause?: () => void }).pause?.bind(Atomics) ?? (() => {});

/** Waits until ctl[index] !== value: a bounded poll, then Atomics.wait; returns the new value. */
export function waitForChange(ctl: Int32Array, index: number, value: number, timeoutMs = Infinity): number {
  for (let i = 0; i < SPIN_LOADS; i++) {
    const now = Atomics.load(ctl, index);
    if (now !== value) return now;
    pause();
  }
  Atomics.wait(ctl, index, value, timeoutMs);
  return Atomics.load(ctl, index);
}
