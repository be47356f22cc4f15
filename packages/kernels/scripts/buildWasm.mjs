// Compiles the AssemblyScript kernels twice: with relaxed SIMD and with plain simd128. Both import one shared
// memory (env.memory, up to 4 GiB) that the worker pool hands every worker.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const asc = path.join(root, "node_modules/.bin/asc");
fs.mkdirSync(path.join(root, "build"), { recursive: true });
// -O1, not -O3: Binaryen's heavier passes move the Q4_0 kernel's loads ahead of its dot chains, and V8 then
// spills registers. Measured on a Zen 5, alternating the builds: matvecQ4_0x8 0.86 ns per row-block in cache at
// -O1 against 1.12 at -O3, and 18-18.6 against 14.4-15 GB/s from DRAM (stream read 25-29); no kernel in
// `pnpm bench kernels` was slower at -O1.
const common = ["--enable", "simd", "--enable", "threads", "-O1", "--runtime", "stub", "--noAssert",
  "--importMemory", "--sharedMemory", "--initialMemory", "1", "--maximumMemory", "65536"];
for (const [name, extra] of [["relaxed", ["--enable", "relaxed-simd"]], ["simd", []]]) {
  execFileSync(asc, ["assembly/index.ts", ...common, ...extra, "-o", `build/kernels.${name}.wasm`], { cwd: root, stdio: "inherit" });
}
