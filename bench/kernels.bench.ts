// `pnpm bench kernels`: quantized matrix-vector (decode) and matrix-matrix (prefill) products on the worker
// pool, for Llama-shaped matrices, with 1 thread and all threads; and, in the same run, the machine's
// streaming read bandwidth through a plain wasm loop, so each matvec figure is also a fraction of it.
// Several copies of each matrix are cycled so the weights stream from DRAM, not from cache.
import * as os from "node:os";
import { Bench } from "tinybench";
import {
  attend, chooseKernels, ggmlTypeByName, instantiateKernels, kernelModule, MatMul, planThreads, readTopology, ropeCache, rowBytes, sharedMemory, WorkerPool,
} from "@cpu-llm/kernels";

const STREAM_BYTES = 512 * 2 ** 20;
/** Matrix shapes, rows×cols; CPU_LLM_BENCH_SHAPES=128256x2048,8192x2048 measures others (a model's output, say). */
const SHAPES = (process.env.CPU_LLM_BENCH_SHAPES?.split(",") ?? ["4096x4096", "14336x4096"]).map((name) => {
  if (!/^[1-9]\d*x[1-9]\d*$/.test(name)) throw new Error(`CPU_LLM_BENCH_SHAPES takes ROWSxCOLS pairs separated by commas, got '${name}'`);
  const [rows, cols] = name.split("x").map(Number);
  return { name, rows, cols };
});
/** CPU_LLM_BENCH_MATMUL=0 skips the batched products, CPU_LLM_BENCH_LAYER_OPS=0 the single-thread layer ops. */
const MATMUL = process.env.CPU_LLM_BENCH_MATMUL !== "0";
/** The weight types measured; CPU_LLM_BENCH_TYPES=q4_K,q6_K narrows them. */
const TYPES = process.env.CPU_LLM_BENCH_TYPES?.split(",") ?? ["q4_0", "q8_0", "q4_K", "q6_K", "q5_K", "q3_K", "q2_K", "q5_0", "q4_1", "q5_1"];
const BATCHES = [64, 512];

interface Row {
  threads: number;
  test: string;
  value: number;
  unit: string;
  ofStream?: number;
}

/** Fills a matrix's raw bytes with random quants and a sane f16 scale in every block. */
function randomMatrix(type: string, rows: number, cols: number): Uint8Array {
  const t = ggmlTypeByName(type)!;
  const bytes = new Uint8Array(rowBytes(t, rows * cols));
  const words = new Uint32Array(bytes.buffer, 0, bytes.length >> 2);
  let s = 0x9e3779b9;
  for (let i = 0; i < words.length; i++) {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    words[i] = s >>> 0;
  }
  for (let b = 0; b < bytes.length; b += t.typeSize) {
    for (const at of t.scaleHalves ?? []) {
      bytes[b + at] = 0x00;
      bytes[b + at + 1] = 0x20; // f16 0.0078125
    }
  }
  return bytes;
}

function meanMs(bench: Bench, name: string): number {
  const task = bench.tasks.find((t) => t.name === name)!;
  return (task.result as { latency: { mean: number } }).latency.mean;
}

async function measure(threads: number, cpus: readonly number[]): Promise<Row[]> {
  const rows: Row[] = [];
  const pool = await WorkerPool.create({ threads, cpus });
  try {
    // Streaming read: each thread sums its own part of STREAM_BYTES, in its own arena.
    const perThread = STREAM_BYTES / threads;
    const regions = Array.from({ length: threads }, (_, t) => {
      const arena = pool.addArena(t, perThread);
      const at = arena.alloc(perThread);
      arena.bytes.fill(1, at, at + perThread);
      return { arena: arena.index, at };
    });
    const stream = () => pool.run(regions.map((r) => ({ fn: "streamRead" as const, arena: r.arena, args: [r.at, perThread] })));
    const nop = () => pool.run([]);
    const b0 = new Bench({ iterations: 20, warmupIterations: 3, time: 0 });
    b0.add("stream", stream).add("dispatch", nop);
    await b0.run();
    const streamGBs = STREAM_BYTES / (meanMs(b0, "stream") / 1e3) / 1e9;
    rows.push({ threads, test: "stream read", value: streamGBs, unit: "GB/s" });
    rows.push({ threads, test: "dispatch + barrier (empty op)", value: meanMs(b0, "dispatch") * 1e3, unit: "µs" });

    for (const type of TYPES) {
      for (const shape of SHAPES) {
        const t = ggmlTypeByName(type)!;
        const bytes = rowBytes(t, shape.rows * shape.cols);
        const copies = Math.max(2, Math.ceil((256 * 2 ** 20) / bytes));
        const mm = new MatMul(pool, { maxCols: shape.cols, maxRows: shape.rows, maxBatch: 512 });
        const data = randomMatrix(type, shape.rows, shape.cols);
        const mats = Array.from({ length: copies }, () => {
          const m = mm.alloc(t, shape.rows, shape.cols);
          mm.set(m, data);
          return m;
        });
        const x = Float32Array.from({ length: shape.cols * 512 }, (_, i) => Math.sin(i));
        const out = new Float32Array(shape.rows * 512);
        let next = 0;
        const b = new Bench({ iterations: 3 * copies, warmupIterations: copies, time: 0 });
        b.add("matvec", () => mm.vec(mats[next++ % copies], x.subarray(0, shape.cols), out.subarray(0, shape.rows)));
        await b.run();
        const gbs = bytes / (meanMs(b, "matvec") / 1e3) / 1e9;
        rows.push({ threads, test: `matvec ${type} ${shape.name}`, value: gbs, unit: "GB/s", ofStream: gbs / streamGBs });
        // Types without a batched kernel run prefill as one matvec per row: their matvec figure says it all.
        if (t.matmul && MATMUL) {
          for (const n of BATCHES) {
            const bm = new Bench({ iterations: n === 512 ? 2 : 5, warmupIterations: 1, time: 0 });
            bm.add("matmul", () => mm.batch(mats[0], x.subarray(0, n * shape.cols), n, out.subarray(0, n * shape.rows)));
            await bm.run();
            const gflops = (2 * shape.rows * shape.cols * n) / (meanMs(bm, "matmul") / 1e3) / 1e9;
            rows.push({ threads, test: `matmul ${type} ${shape.name} × ${n} rows`, value: gflops, unit: "GFLOP/s" });
          }
        }
      }
    }
  } finally {
    await pool.close();
  }
  return rows;
}

/** Single-thread throughput of the layer ops on Llama-3-8B-sized vectors (4096 wide, 32 heads, ffn 14336). */
async function layerOps(): Promise<Row[]> {
  const memory = sharedMemory(1024);
  const k = instantiateKernels(kernelModule(chooseKernels().variant)!, memory);
  const f = new Float32Array(memory.buffer);
  for (let i = 0; i < f.length / 4; i++) f[i] = Math.sin(i * 0.01);
  const MB = 1 << 20;
  const cs = new Float32Array(memory.buffer, 40 * MB, 128);
  ropeCache(cs, 1234, { nDims: 128, freqBase: 500000 });
  // Attention: 32 query heads over 8 F16 KV heads of 128, 1024 positions.
  const nPos = 1024;
  const f16 = ggmlTypeByName("f16")!;
  const kv = { type: f16, rowBytes: 8 * 128 * 2, headBytes: 128 * 2 };
  // Q4_0 matvec in cache: one 4096×256 matrix (590 KB), the compute cost per 32-weight block.
  const rows = 256, nb = 4096 / 32;
  const w = new Uint8Array(memory.buffer, 48 * MB, rows * nb * 18);
  for (let i = 0; i < w.length; i++) w[i] = (i * 2654435761) >>> 24;
  for (let blk = 0; blk < rows * nb; blk++) w[blk * 18 + 1] = 0x20;
  k.repackQ4_0x8(48 * MB, nb * 18, rows, 44 * MB); // the layout a loaded model's Q4_0 matrices take
  k.quantizeRowQ8_0(47 * MB, 46 * MB, 1 * MB, 4096);
  const b = new Bench({ time: 300, warmupTime: 50 });
  b.add("matvec q4_0 4096×256 in cache", () => k.matvecQ4_0x8(45 * MB, 48 * MB, nb * 18, 47 * MB, 46 * MB, nb, 0, rows));
  // K-quants in cache: the cost per 256-weight super-block (random bytes; the same rows as the Q4_0 figure).
  const kquants = ["q4_K", "q6_K", "q5_K", "q3_K", "q2_K"].map((name) => ggmlTypeByName(name)!);
  const kb = 4096 / 256;
  const kw = new Uint8Array(memory.buffer, 50 * MB, rows * kb * 210);
  for (let i = 0; i < kw.length; i++) kw[i] = ((i * 2654435761) >>> 24) & 0xbb; // no f16 infinities or NaNs
  k.quantizeRowQ8_K(43 * MB, 0, 1 * MB, 4096);
  for (const t of kquants) {
    const kernel = k[t.matvec!];
    b.add(`matvec ${t.name} 4096×256 in cache`, () => kernel(45 * MB, 50 * MB, kb * t.typeSize, 43 * MB, 0, kb, 0, rows));
  }
  b
    .add("rmsNorm 4096", () => k.rmsNorm(0, 1 * MB, 2 * MB, 4096, 1e-5))
    .add("rope norm 32×128", () => k.ropeNorm(1 * MB, 32, 128, 128, 40 * MB))
    .add("softmax 4096", () => k.softmax(3 * MB, 4096, 0.1, 0))
    .add("swiglu 14336", () => k.swiglu(4 * MB, 5 * MB, 6 * MB, 14336))
    .add("add 4096", () => k.add(7 * MB, 1 * MB, 2 * MB, 4096))
    .add(`attention f16 KV, 32/8 heads × 128, ${nPos} positions`, () =>
      attend(k, 8 * MB, 9 * MB, { nHead: 32, nKvHead: 8, headDim: 128, nPos, scale: 0.088 }, { ...kv, offset: 10 * MB }, { ...kv, offset: 20 * MB }, { query: 30 * MB, queryScales: 31 * MB, scores: 32 * MB, partial: 33 * MB }));
  await b.run();
  // Bytes each op reads and writes, for GB/s.
  const bytes: Record<string, number> = {
    "rmsNorm 4096": 4096 * 12, "rope norm 32×128": 4096 * 8 + 512, "softmax 4096": 4096 * 12, "swiglu 14336": 14336 * 12,
    "add 4096": 4096 * 12, [`attention f16 KV, 32/8 heads × 128, ${nPos} positions`]: 2 * nPos * 8 * 128 * 2,
  };
  bytes["matvec q4_0 4096×256 in cache"] = rows * nb * 18;
  for (const t of kquants) bytes[`matvec ${t.name} 4096×256 in cache`] = rows * kb * t.typeSize;
  const blocks: Record<string, number> = { "matvec q4_0 4096×256 in cache": rows * nb };
  for (const t of kquants) blocks[`matvec ${t.name} 4096×256 in cache`] = rows * kb;
  return b.tasks.map((t) => {
    const ms = (t.result as { latency: { mean: number; min: number } }).latency.mean;
    const perBlock = t.name.includes("in cache") ? `, ${(((t.result as { latency: { min: number } }).latency.min * 1e6) / blocks[t.name]).toFixed(2)} ns/block at best` : "";
    return { threads: 1, test: `${t.name} (${(ms * 1e3).toFixed(1)} µs${perBlock})`, value: bytes[t.name] / (ms / 1e3) / 1e9, unit: "GB/s" };
  });
}

export async function run(): Promise<void> {
  const topology = readTopology();
  const plan = planThreads(topology);
  const all = plan.cpus.length;
  console.log(`kernels: ${os.cpus()[0]?.model}, ${topology.logicalCpus.length} logical CPUs, threads 1 and ${all} (CPUs ${plan.cpus.join(",")}), Node ${process.versions.node}`);
  const results: Row[] = [];
  for (const threads of all > 1 ? [1, all] : [1]) results.push(...(await measure(threads, plan.cpus)));
  if (process.env.CPU_LLM_BENCH_LAYER_OPS !== "0") results.push(...(await layerOps()));
  console.table(
    results.map((r) => ({
      threads: r.threads,
      test: r.test,
      value: `${r.value.toFixed(r.unit === "µs" ? 1 : 2)} ${r.unit}`,
      "of stream read": r.ofStream === undefined ? "" : `${(r.ofStream * 100).toFixed(0)}%`,
    })),
  );
}
