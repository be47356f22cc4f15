// Compiles the AssemblyScript kernels twice: with relaxed SIMD and with plain simd128. Both import one shared
// memory (env.memory, up to 4 GiB) that the worker pool hands every worker.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const asc = path.join(root, "node_modules/.bin/asc");
fs.mkdirSync(path.join(root, "build"), { recursive: true });
const common = ["--enable", "simd", "--enable", "threads", "-O3", "--runtime", "stub", "--noAssert",
  "--importMemory", "--sharedMemory", "--initialMemory", "1", "--maximumMemory", "65536"];
for (const [name, extra] of [["relaxed", ["--enable", "relaxed-simd"]], ["simd", []]]) {
  execFileSync(asc, ["assembly/index.ts", ...common, ...extra, "-o", `build/kernels.${name}.wasm`], { cwd: root, stdio: "inherit" });
}
