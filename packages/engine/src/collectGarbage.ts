// A full garbage collection on demand, for the one moment it pays: after a model is closed, when gigabytes of
// WebAssembly memory wait for a collection that V8 has no reason to start (it does not count them as heap or
// external-memory pressure). Without --expose-gc, the flag is set for the moment it takes to fetch the function
// from a fresh context and cleared again, as jest's leak detector does (jest-leak-detector).
import * as v8 from "node:v8";
import * as vm from "node:vm";

let gc: (() => void) | undefined;

export function collectGarbage(): void {
  if (!gc) {
    const exposed = (globalThis as { gc?: () => void }).gc;
    if (typeof exposed === "function") {
      gc = exposed;
    } else {
      v8.setFlagsFromString("--expose-gc");
      gc = vm.runInNewContext("gc") as () => void;
      v8.setFlagsFromString("--no-expose-gc");
    }
  }
  gc!();
}
