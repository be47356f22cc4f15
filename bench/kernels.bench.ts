// `pnpm bench kernels`: quantized matrix-vector (decode) and matrix-matrix (prefill) products on the worker
// pool, for Llama-shaped matrices, with 1 thread and all threads; and, in the same run, the machine's
// streaming read bandwidth through a plain wasm loop, so each matvec figure is also a fraction of it.
// Several copies of each matrix are cycled so the weights stream from DRAM, not from cache.
import * as os from "node:os";
import { Bench } from "tinybench";
import { ggmlTypeByName, MatMul, planThreads, readTopology, WorkerPool } from "@cpu-llm/kernels";

const STREAM_BYTES = 512 * 2 ** 20;
const SHAPES = [
  { name: "4096x4096", rows: 4096, cols: 4096 },
  { name: "14336x4096", rows: 14336, cols: 4096 },
];
const TYPES = ["q4_0", "q8_0"];
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
  const bytes = new Uint8Array((rows * cols / t.blockSize) * t.typeSize);
  const words = new Uint32Array(bytes.buffer, 0, bytes.length >> 2);
  let s = 0x9e3779b9;
  for (let i = 0; i < words.length; i++) {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    words[i] = s >>> 0;
  }
  for (let b = 0; b < bytes.length; b += t.typeSize) {
    bytes[b] = 0x00;
    bytes[b + 1] = 0x20; // f16 0.0078125
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
        const bytes = (shape.rows * shape.cols / t.blockSize) * t.typeSize;
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
        if (shape.rows === 4096) {
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

export async function run(): Promise<void> {
  const topology = readTopology();
  const plan = planThreads(topology);
  const all = plan.cpus.length;
  console.log(`kernels: ${os.cpus()[0]?.model}, ${topology.logicalCpus.length} logical CPUs, threads 1 and ${all} (CPUs ${plan.cpus.join(",")}), Node ${process.versions.node}`);
  const results: Row[] = [];
  for (const threads of all > 1 ? [1, all] : [1]) results.push(...(await measure(threads, plan.cpus)));
  console.table(
    results.map((r) => ({
      threads: r.threads,
      test: r.test,
      value: `${r.value.toFixed(r.unit === "µs" ? 1 : 2)} ${r.unit}`,
      "of stream read": r.ofStream === undefined ? "" : `${(r.ofStream * 100).toFixed(0)}%`,
    })),
  );
}
