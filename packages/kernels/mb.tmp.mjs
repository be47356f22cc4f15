// scratch microbench: in-cache matvec per row-block, best of N
import * as fs from "node:fs";
const variant = process.argv[2] ?? "relaxed";
const names = (process.argv[3] ?? "matvecQ4_Kx4").split(",");
const mod = new WebAssembly.Module(fs.readFileSync(`build/kernels.${variant}.wasm`));
const memory = new WebAssembly.Memory({ initial: 6000, maximum: 65536, shared: true });
const k = new WebAssembly.Instance(mod, { env: { memory } }).exports;
k.initF16Table();
const MB = 1 << 20;
const cols = Number(process.env.COLS ?? 4096), rows = Number(process.env.ROWS ?? 256), kb = cols / 256;
const kw = new Uint8Array(memory.buffer, 50 * MB, rows * kb * 210);
const fill = () => { for (let i = 0; i < kw.length; i++) kw[i] = ((i * 2654435761) >>> 24) & 0xbb; };
const x = new Float32Array(memory.buffer, 1 * MB, cols);
for (let i = 0; i < cols; i++) x[i] = Math.sin(i);
k.quantizeRowQ8_K(43 * MB, 0, 1 * MB, cols);
const sizes = { Q4_K: 144, Q6_K: 210, Q5_K: 176, Q3_K: 110, Q2_K: 84 };
for (const name of names) {
  const t = Object.keys(sizes).find((s) => name.includes(s));
  const tb = sizes[t];
  fill();
  if (name.includes("x4") && k[`repack${t}x4`]) k[`repack${t}x4`](50 * MB, kb * tb, rows, 40 * MB);
  const f = k[name];
  let best = Infinity;
  for (let rep = 0; rep < Number(process.env.REPS ?? 2000); rep++) {
    const t0 = process.hrtime.bigint();
    f(45 * MB, 50 * MB, kb * tb, 43 * MB, 0, kb, 0, rows);
    const dt = Number(process.hrtime.bigint() - t0);
    if (dt < best) best = dt;
  }
  const out = new Float32Array(memory.buffer, 45 * MB, 4);
  console.log(name, (best / (rows * kb)).toFixed(2), "ns/row-block", (rows * kb * tb / best).toFixed(2), "GB/s", Array.from(new Float32Array(memory.buffer, 45 * MB, rows)).reduce((a, b) => a + Math.abs(b), 0).toFixed(4));
}
