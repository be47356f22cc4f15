import * as fs from "node:fs";

/** Reads view.length bytes of a file at position straight into view (a wasm memory: no second copy). */
export function readFileInto(path: string, view: Uint8Array, position: number): void {
  const fd = fs.openSync(path, "r");
  try {
    for (let done = 0; done < view.length; ) {
      // readSync takes at most 2 GiB at once.
      const n = fs.readSync(fd, view, done, Math.min(view.length - done, 1 << 30), position + done);
      if (n === 0) throw new Error(`${path}: file ends ${view.length - done} bytes early`);
      done += n;
    }
  } finally {
    fs.closeSync(fd);
  }
}
