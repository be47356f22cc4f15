import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  chooseKernels, ggmlTypeByName, instantiateKernels, KERNEL_RESERVED_BYTES, kernelModule, MatMul, quantizeActivationsQ8_0Ref, quantizeRowQ8_KRef, Q8_K_BYTES, rowBytes,
  sharedMemory, splitRows, vecDotQ4_0Q8_0Ref, WorkerPool, dotSgemmRef, f16ToF32, f32ToF16, vecDotQ4_0Q8_0RepackedRef, vecDotQ4_0Q8_0UnpackedRef,
} from "@cpu-llm/kernels";

type Pool = WorkerPool;

const pools: Pool[] = [];
afterAll(async () => {
  await Promise.all(pools.map((p) => p.close()));
});
async function pool(threads: number): Promise<Pool> {
  const p = await WorkerPool.create({ threads });
  pools.push(p);
  return p;
}

const ROWS = 37; // odd, so shards differ in size
const COLS = 96;
function matrix(type: string, seed: number): { bytes: Uint8Array; floats: Float32Array } {
  const t = ggmlTypeByName(type)!;
  const floats = Float32Array.from({ length: ROWS * COLS }, (_, i) => Math.sin(i * 0.713 + seed) * 2);
  const bytes = new Uint8Array(rowBytes(t, ROWS * COLS));
  t.fromFloat!(bytes, 0, floats, 0, floats.length);
  return { bytes, floats };
}
const x = Float32Array.from({ length: COLS }, (_, i) => Math.cos(i * 0.29) - 0.2);

describe("splitRows", () => {
  it("covers every row once, in balanced contiguous ranges", () => {
    expect(splitRows(37, 3)).toEqual([[0, 12], [12, 24], [24, 37]]);
    expect(splitRows(2, 3)).toEqual([[0, 0], [0, 1], [1, 2]]);
  });
});

describe("worker pool", () => {
  it.each(["q4_0", "q8_0", "f16", "f32"])("%s matvec on 1, 2 and 3 threads gives the same result as one", async (type) => {
    const results: Float32Array[] = [];
    for (const threads of [1, 2, 3]) {
      const p = await pool(threads);
      const mv = new MatMul(p, { maxCols: COLS, maxRows: ROWS });
      const m = mv.alloc(ggmlTypeByName(type)!, ROWS, COLS);
      expect(m.shards.map((s) => s.rows)).toEqual(splitRows(ROWS, threads).map(([a, b]) => b - a));
      mv.set(m, matrix(type, 1).bytes);
      const out = new Float32Array(ROWS);
      mv.vec(m, x, out);
      results.push(out);
    }
    expect(results[1]).toEqual(results[0]);
    expect(results[2]).toEqual(results[0]);
    // And it is the product of the stored weights with x, up to the rounding of the activations
    // (to Q8_0: half a step of amax/127 per element; to F16: 2^-11 relative) and float32 sums.
    const t = ggmlTypeByName(type)!;
    const w = new Float32Array(ROWS * COLS);
    t.toFloat!(w, 0, matrix(type, 1).bytes, 0, w.length);
    const xAmax = Math.max(...x.map(Math.abs));
    const xStep = t.vecDotType === "q8_0" ? xAmax / 127 / 2 : t.vecDotType === "f16" ? xAmax * 2 ** -11 : 0;
    for (let r = 0; r < ROWS; r++) {
      let want = 0;
      let bound = 1e-5;
      for (let c = 0; c < COLS; c++) {
        want += w[r * COLS + c] * x[c];
        bound += Math.abs(w[r * COLS + c]) * (xStep * 1.01 + Math.abs(x[c]) * 1e-6);
      }
      expect(Math.abs(results[0][r] - want)).toBeLessThanOrEqual(bound);
    }
  });

  it.each(["q4_0", "q8_0", "f16", "f32"])("%s batched products of 2, 3 and 7 rows equal matrix-vector products bit for bit", async (type) => {
    const p = await pool(2);
    // Not multiples of the kernels' 4-row tile: a batch of 2-3 decoding sequences, and a tile plus 3 more.
    const mm = new MatMul(p, { maxCols: COLS, maxRows: ROWS, maxBatch: 7 });
    const m = mm.alloc(ggmlTypeByName(type)!, ROWS, COLS);
    mm.set(m, matrix(type, 4).bytes);
    for (const n of [2, 3, 7]) {
      const xs = Float32Array.from({ length: n * COLS }, (_, i) => Math.sin(i * 0.05 + n) * (1 + (i % 7)));
      const batched = new Float32Array(n * ROWS);
      mm.batch(m, xs, n, batched);
      for (let c = 0; c < n; c++) {
        const one = new Float32Array(ROWS);
        mm.vec(m, xs.subarray(c * COLS, (c + 1) * COLS), one);
        expect(batched.subarray(c * ROWS, (c + 1) * ROWS)).toEqual(one);
      }
    }
  });

  // What decides the summation order besides the type: llama.cpp's tinyBLAS takes a batch of two or more rows
  // for an F32/F16 matrix of 4k rows and 16k columns (37 rows above: vec_dot, so batches equal single products);
  // ggml repacks a Q4_0 matrix of 8k rows unless it is a slice that mul_mat broadcasts (alloc's `op`), and
  // mul_mat_id never goes through tinyBLAS.
  it.each(["f32", "f16"])("%s, 40 rows: a batch sums each row in tinyBLAS's order, a single row in vec_dot's", async (type) => {
    const rows = 40, t = ggmlTypeByName(type)!;
    const floats = Float32Array.from({ length: rows * COLS }, (_, i) => Math.sin(i * 0.713) * 2);
    const bytes = new Uint8Array(rowBytes(t, rows * COLS));
    t.fromFloat!(bytes, 0, floats, 0, floats.length);
    const w = type === "f16" ? floats.map((v) => f16ToF32(f32ToF16(v))) : floats;
    const mm = new MatMul(await pool(2), { maxCols: COLS, maxRows: rows, maxBatch: 3 });
    const m = mm.alloc(t, rows, COLS);
    mm.set(m, bytes);
    const xs = Float32Array.from({ length: 3 * COLS }, (_, i) => Math.sin(i * 0.37) * (1 + (i % 5)));
    const xr = type === "f16" ? xs.map((v) => f16ToF32(f32ToF16(v))) : xs;
    const batched = new Float32Array(3 * rows);
    mm.batch(m, xs, 3, batched);
    let differ = 0;
    for (let c = 0; c < 3; c++) {
      const one = new Float32Array(rows);
      mm.vec(m, xs.subarray(c * COLS, (c + 1) * COLS), one);
      for (let r = 0; r < rows; r++) {
        expect(batched[c * rows + r]).toBe(dotSgemmRef((i) => w[r * COLS + i], (i) => xr[c * COLS + i], COLS));
        if (one[r] !== batched[c * rows + r]) differ++;
      }
    }
    expect(differ).toBeGreaterThan(0); // the two orders are told apart here
    expect(m.tinyBlas).toBe(true);
    const expert = mm.alloc(t, rows, COLS, { op: "mul_mat_id" });
    mm.set(expert, bytes);
    mm.batch(expert, xs, 3, batched);
    const one = new Float32Array(rows);
    mm.vec(m, xs.subarray(2 * COLS), one);
    expect(batched.subarray(2 * rows)).toEqual(one);
    expect(expert.tinyBlas).toBe(false);
  });

  it("Q4_0, 40 rows: repacked order for mul_mat and mul_mat_id, vec_dot's for mul_mat_broadcast", async () => {
    const rows = 40, cols = 256, t = ggmlTypeByName("q4_0")!;
    const floats = Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(i * 0.713) * 2);
    const bytes = new Uint8Array(rowBytes(t, rows * cols));
    t.fromFloat!(bytes, 0, floats, 0, floats.length);
    const mm = new MatMul(await pool(2), { maxCols: cols, maxRows: rows, maxBatch: 2 });
    const xs = Float32Array.from({ length: 2 * cols }, (_, i) => Math.sin(i * 0.37) * (1 + (i % 5)));
    const nb = cols / 32, xq = new Uint8Array(2 * nb * 34), scales = new Float32Array(4 * nb);
    for (let c = 0; c < 2; c++) quantizeActivationsQ8_0Ref(xq.subarray(c * nb * 34), scales.subarray(c * 2 * nb), xs.subarray(c * cols, (c + 1) * cols), cols);
    for (const [op, ref] of [["mul_mat", vecDotQ4_0Q8_0RepackedRef], ["mul_mat_id", vecDotQ4_0Q8_0RepackedRef], ["mul_mat_broadcast", vecDotQ4_0Q8_0UnpackedRef]] as const) {
      const m = mm.alloc(t, rows, cols, { op });
      mm.set(m, bytes);
      const out = new Float32Array(2 * rows);
      mm.batch(m, xs, 2, out);
      const one = new Float32Array(rows);
      mm.vec(m, xs.subarray(0, cols), one);
      for (let r = 0; r < rows; r++) {
        expect(one[r]).toBe(ref(bytes, r * nb * 18, xq, 0, nb));
        for (let c = 0; c < 2; c++) expect(out[c * rows + r]).toBe(ref(bytes, r * nb * 18, xq, c * nb * 34, nb));
      }
    }
  });

  // K-quant matrices through the pool: 40 rows (a multiple of 8: q4_K and q2_K in the repacked gemv's order, q4_K
  // rewritten into four-row groups at set()) and 37 (vec_dot's order). Each row equals the plain wasm kernel of its
  // order on the file's bytes, and batches equal single products.
  it.each([
    ["q2_K", 40, "vecDotQ2_Kx8Q8_K"], ["q2_K", 37, "vecDotQ2_KQ8_K"], ["q3_K", 37, "vecDotQ3_KQ8_K"], ["q4_K", 40, "vecDotQ4_Kx8Q8_K"],
    ["q4_K", 37, "vecDotQ4_KQ8_K"], ["q5_K", 40, "vecDotQ5_KQ8_K"], ["q6_K", 37, "vecDotQ6_KQ8_K"],
  ] as const)("%s, %i rows: each row is %s's sum, and batches equal single products", async (type, rows, plain) => {
    const cols = 512, t = ggmlTypeByName(type)!;
    const bytes = new Uint8Array(rowBytes(t, rows * cols));
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24;
    for (let b = 0; b < bytes.length; b += t.typeSize) for (const h of t.scaleHalves!) bytes[b + h + 1] = 0x1c + (b % 3); // small f16 scales
    const p = await pool(2);
    const mm = new MatMul(p, { maxCols: cols, maxRows: rows, maxBatch: 3 });
    const m = mm.alloc(t, rows, cols);
    mm.set(m, bytes);
    const xs = Float32Array.from({ length: 3 * cols }, (_, i) => Math.sin(i * 0.37) * (1 + (i % 5)));
    const one = new Float32Array(rows);
    mm.vec(m, xs.subarray(0, cols), one);
    const memory = sharedMemory(KERNEL_RESERVED_BYTES / 65536 + 2);
    const k = instantiateKernels(kernelModule(chooseKernels().variant)!, memory);
    const heap = new Uint8Array(memory.buffer);
    const q8 = new Uint8Array((cols / 256) * Q8_K_BYTES);
    quantizeRowQ8_KRef(q8, 0, xs, 0, cols);
    heap.set(bytes, KERNEL_RESERVED_BYTES);
    heap.set(q8, KERNEL_RESERVED_BYTES + bytes.length);
    for (let r = 0; r < rows; r++) expect(one[r]).toBe(k[plain](KERNEL_RESERVED_BYTES + r * m.rowBytes, KERNEL_RESERVED_BYTES + bytes.length, 0, cols / 256));
    const batched = new Float32Array(3 * rows);
    mm.batch(m, xs, 3, batched);
    for (let c = 0; c < 3; c++) {
      mm.vec(m, xs.subarray(c * cols, (c + 1) * cols), one);
      expect(batched.subarray(c * rows, (c + 1) * rows)).toEqual(one);
    }
  });

  it("Q4_0 rows equal the scalar reference's integer-exact dot product", async () => {
    const p = await pool(2);
    const mv = new MatMul(p, { maxCols: COLS, maxRows: ROWS });
    const m = mv.alloc(ggmlTypeByName("q4_0")!, ROWS, COLS);
    const { bytes } = matrix("q4_0", 3);
    mv.set(m, bytes);
    const out = new Float32Array(ROWS);
    mv.vec(m, x, out);
    const q8 = new Uint8Array((COLS / 32) * 34);
    quantizeActivationsQ8_0Ref(q8, new Float32Array(COLS / 16), x, COLS);
    for (let r = 0; r < ROWS; r++) expect(out[r]).toBeCloseTo(vecDotQ4_0Q8_0Ref(bytes, r * m.rowBytes, q8, 0, COLS / 32), 4);
  });

  it("each thread reads its own rows from a file", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cpu-llm-pool-"));
    const file = path.join(dir, "w.bin");
    const { bytes } = matrix("q8_0", 5);
    const header = new Uint8Array(1234).fill(7);
    fs.writeFileSync(file, Buffer.concat([header, bytes]));
    const p = await pool(3);
    const mv = new MatMul(p, { maxCols: COLS, maxRows: ROWS });
    const fromFile = mv.alloc(ggmlTypeByName("q8_0")!, ROWS, COLS);
    mv.load(file, [{ m: fromFile, position: header.length }]);
    const fromBytes = mv.alloc(ggmlTypeByName("q8_0")!, ROWS, COLS);
    mv.set(fromBytes, bytes);
    const a = new Float32Array(ROWS);
    const b = new Float32Array(ROWS);
    mv.vec(fromFile, x, a);
    mv.vec(fromBytes, x, b);
    expect(a).toEqual(b);
    fs.rmSync(dir, { recursive: true });
  });

  it("a failing call in a worker is an error on the main thread, and the pool lives on", async () => {
    const p = await pool(2);
    const mv = new MatMul(p, { maxCols: COLS, maxRows: ROWS });
    const m = mv.alloc(ggmlTypeByName("f32")!, ROWS, COLS);
    const arena = p.arenasOf(1)[0];
    // A read far past the end of worker 1's memory traps inside the worker.
    expect(() => p.run([null, { fn: "streamRead", arena: 0, args: [arena.memory.buffer.byteLength - 16, 1 << 20] }])).toThrow(/worker 1: .*out of bounds/);
    expect(() => p.readFile("/nonexistent/file", [[], [{ arena: 0, offset: 65536, position: 0, length: 10 }]])).toThrow(/worker 1: .*ENOENT/);
    mv.set(m, matrix("f32", 2).bytes);
    const out = new Float32Array(ROWS);
    mv.vec(m, x, out);
    expect(out.every(Number.isFinite)).toBe(true);
  });

  it("plans memory up front: after reserve, allocations neither grow a memory nor add an arena", async () => {
    const p = await pool(3);
    const mm = new MatMul(p, { maxCols: COLS, maxRows: ROWS, maxBatch: 4 });
    const specs = [
      { type: ggmlTypeByName("q4_0")!, rows: ROWS, cols: COLS },
      { type: ggmlTypeByName("f16")!, rows: ROWS, cols: COLS },
      { type: ggmlTypeByName("q8_0")!, rows: 5, cols: COLS },
    ];
    const planned = mm.reserve(specs);
    expect(planned).toHaveLength(3);
    const sizes = () => [0, 1, 2].map((t) => p.arenasOf(t).map((a) => a.memory.buffer.byteLength));
    const before = sizes();
    const mats = specs.map((s) => mm.alloc(s.type, s.rows, s.cols));
    mm.set(mats[0], matrix("q4_0", 1).bytes);
    const out = new Float32Array(ROWS * 4);
    mm.vec(mats[0], x, out.subarray(0, ROWS));
    mm.batch(mats[0], Float32Array.from({ length: 4 * COLS }, (_, i) => Math.sin(i)), 4, out);
    expect(out.every(Number.isFinite)).toBe(true);
    expect(sizes()).toEqual(before);
  });

  it("refuses calls after close", async () => {
    const p = await WorkerPool.create({ threads: 2 });
    await p.close();
    expect(() => p.run([null, null])).toThrow(/closed/);
  });

  it("reports pinning for every thread", async () => {
    const p = await WorkerPool.create({ threads: 2, cpus: [0, os.availableParallelism() - 1] });
    pools.push(p);
    expect(p.pinning).toHaveLength(2);
    expect(p.pinning[1]).toMatch(/pinned to CPU|not pinned/);
  });
});
