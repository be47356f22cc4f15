import * as fs from "node:fs";
const mod = new WebAssembly.Module(fs.readFileSync(`build/kernels.relaxed.wasm`));
const memory = new WebAssembly.Memory({ initial: 2000, maximum: 65536, shared: true });
const k = new WebAssembly.Instance(mod, { env: { memory } }).exports;
k.initF16Table();
const MB = 1 << 20, cols = 14336;
const x = new Float32Array(memory.buffer, 1 * MB, cols);
for (let i = 0; i < cols; i++) x[i] = Math.sin(i);
let best = Infinity;
for (let r = 0; r < 2000; r++) { const t = process.hrtime.bigint(); k.quantizeRowQ8_K(43 * MB, 0, 1 * MB, cols); const d = Number(process.hrtime.bigint() - t); best = Math.min(best, d); }
console.log("quantizeRowQ8_K", cols, (best / 1000).toFixed(1), "µs");
