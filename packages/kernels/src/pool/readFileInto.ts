import * as fs from "node:fs";
import type { KernelName } from "../wasm/kernelTable.js";

/** A range of a file to place in a thread's arena: `length` bytes from `position` to `offset` in arena `arena`. */
export interface FileRead {
  readonly arena: number;
  readonly offset: number;
  readonly position: number;
  readonly length: number;
  /**
   * A kernel call that rewrites the range once it is read (a repacked matrix's shard: the type's `repack` kernel
   * with these arguments), run by the reading thread before its next range.
   */
  readonly then?: { readonly fn: KernelName; readonly args: readonly number[] };
}

/** Reads view.length bytes of a file at position straight into view (a wasm memory: no second copy). */
export function readFileInto(path: string, view: Uint8Array, position: number): void {
  readRangesInto(path, [{ view, position }]);
}

/**
 * Reads ranges of one file into their views, opening it once; a range's `then` runs once it is read, and
 * `onRead` then hears the range's bytes.
 */
export function readRangesInto(
  path: string, ranges: readonly { readonly view: Uint8Array; readonly position: number; readonly then?: () => void }[], onRead?: (bytes: number) => void,
): void {
  const fd = fs.openSync(path, "r");
  try {
    for (const { view, position, then } of ranges) {
      for (let done = 0; done < view.length; ) {
        // readSync takes at most 2 GiB at once.
        const n = fs.readSync(fd, view, done, Math.min(view.length - done, 1 << 30), position + done);
        if (n === 0) throw new Error(`${path}: file ends ${view.length - done} bytes early`);
        done += n;
      }
      then?.();
      onRead?.(view.length);
    }
  } finally {
    fs.closeSync(fd);
  }
}
