// K-quant kernels against the plain references (reference/kquants.ts): the Q8_K quantizer bit for bit, and
// the Q4_K/Q6_K dot products against the exact sum of the dequantized weights times the dequantized
// activations (the kernels' integer sums are exact, so only float32 rounding of the per-block terms differs).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  chooseKernels, dequantizeRowQ2_K, GGML_TYPES, dequantizeRowQ3_K, dequantizeRowQ4_K, dequantizeRowQ5_K, dequantizeRowQ6_K, dequantizeRowQ8_K, instantiateKernels, KERNEL_RESERVED_BYTES, kernelModule, Q2_K_BYTES, Q3_K_BYTES, Q4_K_BYTES,
  Q5_K_BYTES, Q6_K_BYTES, Q8_K_BYTES, QK_K, quantizeRowQ8_KRef, sharedMemory,
} from "@cpu-llm/kernels";

const memory = sharedMemory(KERNEL_RESERVED_BYTES / 65536 + 8);
const k = instantiateKernels(kernelModule(chooseKernels().variant)!, memory);
const B = KERNEL_RESERVED_BYTES;
const bytes = new Uint8Array(memory.buffer);
const blocks = fc.integer({ min: 1, max: 4 });
const floats = (n: number) => fc.float32Array({ minLength: n, maxLength: n, noNaN: true, noDefaultInfinity: true, min: -50, max: 50 });

describe("Q8_K", () => {
  it("the wasm quantizer equals quantize_row_q8_K_ref's bytes, sums included", () => {
    fc.assert(fc.property(blocks.chain((nb) => floats(nb * QK_K)), (x) => {
      const nb = x.length / QK_K;
      new Float32Array(memory.buffer, B, x.length).set(x);
      k.quantizeRowQ8_K(B + 8 * QK_K * 4, 0, B, x.length);
      const want = new Uint8Array(nb * Q8_K_BYTES);
      quantizeRowQ8_KRef(want, 0, x, 0, x.length);
      expect(bytes.slice(B + 8 * QK_K * 4, B + 8 * QK_K * 4 + want.length)).toEqual(want);
    }), { numRuns: 60 });
  });

  it("keeps a zero block zero and maps the largest magnitude to -127 (d takes its sign)", () => {
    const x = new Float32Array(2 * QK_K);
    x[QK_K + 3] = -2.5;
    x[QK_K + 9] = 1;
    const q = new Uint8Array(2 * Q8_K_BYTES);
    quantizeRowQ8_KRef(q, 0, x, 0, x.length);
    expect([...q.subarray(0, Q8_K_BYTES)].every((b) => b === 0)).toBe(true);
    const back = new Float32Array(2 * QK_K);
    dequantizeRowQ8_K(back, 0, q, 0, back.length);
    expect(new Int8Array(q.buffer, Q8_K_BYTES + 4 + 3, 1)[0]).toBe(-127); // iscale = -127/max, whatever max's sign
    expect(new Int8Array(q.buffer, Q8_K_BYTES + 4 + 9, 1)[0]).toBe(51); // 1 · 127/2.5 = 50.8
    expect(back[QK_K + 3]).toBeCloseTo(-2.5, 6);
  });
});

describe.each([
  { name: "q4_K", size: Q4_K_BYTES, dequantize: dequantizeRowQ4_K, dot: (w: number, x: number, nb: number) => k.vecDotQ4_KQ8_K(w, x, 0, nb) },
  { name: "q4_K (repacked gemv order)", size: Q4_K_BYTES, dequantize: dequantizeRowQ4_K, dot: (w: number, x: number, nb: number) => k.vecDotQ4_Kx8Q8_K(w, x, 0, nb) },
  { name: "q2_K", size: Q2_K_BYTES, dequantize: dequantizeRowQ2_K, dot: (w: number, x: number, nb: number) => k.vecDotQ2_KQ8_K(w, x, 0, nb) },
  { name: "q2_K (repacked gemv order)", size: Q2_K_BYTES, dequantize: dequantizeRowQ2_K, dot: (w: number, x: number, nb: number) => k.vecDotQ2_Kx8Q8_K(w, x, 0, nb) },
  { name: "q3_K", size: Q3_K_BYTES, dequantize: dequantizeRowQ3_K, dot: (w: number, x: number, nb: number) => k.vecDotQ3_KQ8_K(w, x, 0, nb) },
  { name: "q5_K", size: Q5_K_BYTES, dequantize: dequantizeRowQ5_K, dot: (w: number, x: number, nb: number) => k.vecDotQ5_KQ8_K(w, x, 0, nb) },
  { name: "q6_K", size: Q6_K_BYTES, dequantize: dequantizeRowQ6_K, dot: (w: number, x: number, nb: number) => k.vecDotQ6_KQ8_K(w, x, 0, nb) },
])("$name · Q8_K", ({ size, dequantize, dot }) => {
  // Random blocks with moderate f16 scales (bytes 0x00-0x2f above the low byte: |d| < 1).
  const weightBlocks = (nb: number) => fc.uint8Array({ minLength: nb * size, maxLength: nb * size });
  const tame = (w: Uint8Array) => {
    const halves = GGML_TYPES.find((t) => t.typeSize === size && t.blockSize === QK_K)!.scaleHalves!;
    for (let b = 0; b < w.length / size; b++) for (const h of halves) w[b * size + h + 1] &= 0x2f;
    return w;
  };

  it("equals the dequantized product to float32 rounding", () => {
    fc.assert(fc.property(blocks.chain((nb) => fc.tuple(weightBlocks(nb).map(tame), floats(nb * QK_K))), ([w, x]) => {
      const nb = x.length / QK_K;
      const q8 = new Uint8Array(nb * Q8_K_BYTES);
      quantizeRowQ8_KRef(q8, 0, x, 0, x.length);
      bytes.set(w, B);
      bytes.set(q8, B + 16384);
      const got = dot(B, B + 16384, nb);
      const wf = new Float32Array(nb * QK_K), xf = new Float32Array(nb * QK_K);
      dequantize(wf, 0, w, 0, wf.length);
      dequantizeRowQ8_K(xf, 0, q8, 0, xf.length);
      let want = 0, magnitude = 0;
      for (let i = 0; i < wf.length; i++) {
        want += wf[i] * xf[i];
        magnitude += Math.abs(wf[i] * xf[i]);
      }
      expect(Math.abs(got - want)).toBeLessThanOrEqual(1e-5 * magnitude + 1e-6);
    }), { numRuns: 80 });
  });
});

// The fast kernels (assembly/kquantsSimd.ts) against the plain ones they replace, row by row, in both builds:
// equal bit for bit, since they build the same exact integers and take the same float32 steps.
describe.each(["relaxed", "simd"] as const)("fast K-quant matvec kernels, %s build", (variant) => {
  const module = kernelModule(variant);
  const fast = module && instantiateKernels(module, memory);
  it.each([
    { type: "q2_K", size: Q2_K_BYTES, matvec: "matvecQ2_Kx8", matmul: "matmulQ2_Kx8", plain: "vecDotQ2_Kx8Q8_K" },
    { type: "q3_K", size: Q3_K_BYTES, matvec: "matvecQ3_K", matmul: "matmulQ3_K", plain: "vecDotQ3_KQ8_K" },
    { type: "q5_K", size: Q5_K_BYTES, matvec: "matvecQ5_K", matmul: "matmulQ5_K", plain: "vecDotQ5_KQ8_K" },
    { type: "q6_K", size: Q6_K_BYTES, matvec: "matvecQ6_K", matmul: "matmulQ6_K", plain: "vecDotQ6_KQ8_K" },
  ] as const)("$matvec and $matmul equal $plain on every row and activation row", ({ size, matvec, matmul, plain }) => {
    if (!fast) return; // an engine without relaxed SIMD validates only the plain build
    const rows = 5, n = 2;
    fc.assert(fc.property(blocks.chain((nb) => fc.tuple(fc.uint8Array({ minLength: rows * nb * size, maxLength: rows * nb * size }), floats(n * nb * QK_K))), ([w, x]) => {
      const nb = x.length / n / QK_K, xBytes = nb * Q8_K_BYTES;
      // Finite f16 scales (exponent bits not all set), any sign and magnitude below it.
      for (let at = 0; at + 1 < w.length; at++) if ((w[at + 1] & 0x7c) === 0x7c) w[at + 1] &= 0xbb;
      const q8 = new Uint8Array(n * xBytes);
      quantizeRowQ8_KRef(q8, 0, x, 0, x.length);
      bytes.set(w, B);
      bytes.set(q8, B + 65536);
      const want = (r: number, c: number) => k[plain](B + r * nb * size, B + 65536 + c * xBytes, 0, nb);
      fast[matvec](B + 98304, B, nb * size, B + 65536, 0, nb, 1, rows);
      const got = new Float32Array(memory.buffer, B + 98304, rows * n);
      for (let r = 1; r < rows; r++) expect(got[r]).toBe(want(r, 0));
      fast[matmul](B + 98304, rows, B, nb * size, B + 65536, xBytes, 0, nb, 1, rows, n, 0);
      for (let c = 0; c < n; c++) for (let r = 1; r < rows; r++) expect(got[c * rows + r]).toBe(want(r, c));
    }), { numRuns: 60 });
  });
});

// Q4_K repacked into groups of four rows (assembly/q4_Kx4.ts): decode and prefill kernels against the plain
// repacked-gemv-order kernel on the plain rows, bit for bit, in both builds.
describe.each(["relaxed", "simd"] as const)("repacked Q4_K kernels, %s build", (variant) => {
  const module = kernelModule(variant);
  const fast = module && instantiateKernels(module, memory);
  it("repackQ4_Kx4 then matvecQ4_Kx4 and matmulQ4_Kx4 equal vecDotQ4_Kx8Q8_K on every row and activation row", () => {
    if (!fast) return;
    const rows = 8, n = 3;
    fc.assert(fc.property(blocks.chain((nb) => fc.tuple(fc.uint8Array({ minLength: rows * nb * Q4_K_BYTES, maxLength: rows * nb * Q4_K_BYTES }), floats(n * nb * QK_K))), ([w, x]) => {
      const nb = x.length / n / QK_K, rowBytes = nb * Q4_K_BYTES;
      for (let b = 0; b < rows * nb; b++) for (const h of [0, 2]) w[b * Q4_K_BYTES + h + 1] &= 0xbb;
      const q8 = new Uint8Array(n * nb * Q8_K_BYTES);
      quantizeRowQ8_KRef(q8, 0, x, 0, x.length);
      bytes.set(w, B);
      bytes.set(q8, B + 65536);
      const want = Array.from({ length: n }, (_, c) => Array.from({ length: rows }, (_, r) => k.vecDotQ4_Kx8Q8_K(B + r * rowBytes, B + 65536 + c * nb * Q8_K_BYTES, 0, nb)));
      fast.repackQ4_Kx4(B, rowBytes, rows, B + 32768);
      fast.matvecQ4_Kx4(B + 98304, B, rowBytes, B + 65536 + nb * Q8_K_BYTES, 0, nb, 0, rows);
      expect([...new Float32Array(memory.buffer, B + 98304, rows)]).toEqual(want[1].map(Math.fround));
      fast.matmulQ4_Kx4(B + 98304, rows, B, rowBytes, B + 65536, nb * Q8_K_BYTES, 0, nb, 4, 8, n, 0);
      for (let c = 0; c < n; c++) expect([...new Float32Array(memory.buffer, B + 98304 + c * rows * 4 + 16, 4)]).toEqual(want[c].slice(4).map(Math.fround));
    }), { numRuns: 60 });
  });

  // Rows of more than 24 blocks are stored in column chunks, chunk-major (assembly/columnChunks.ts).
  it.each([
    { type: "q4_K", size: Q4_K_BYTES, half: 0, repack: "repackQ4_Kx4", matvec: "matvecQ4_Kx4", matmul: "matmulQ4_Kx4", plain: "vecDotQ4_Kx8Q8_K" },
    { type: "q6_K", size: Q6_K_BYTES, half: 208, repack: "repackQ6_K", matvec: "matvecQ6_K", matmul: "matmulQ6_K", plain: "vecDotQ6_KQ8_K" },
  ] as const)("$type rows longer than 24 blocks, in column chunks, give the sums of whole rows", ({ size, half, repack, matvec, matmul, plain }) => {
    if (!fast) return;
    // 12 rows (for Q4_K three groups: the chunk-major transpose is not square); 25, 56 and 74 blocks cut into
    // 5, 3 and 37 chunks, 32 into 2.
    const rows = 12, n = 2, W = B, SCRATCH = B + 196608, X = B + 262144, OUT = B + 327680;
    const nbs = fc.constantFrom(25, 32, 56, 74);
    fc.assert(fc.property(nbs.chain((nb) => fc.tuple(fc.uint8Array({ minLength: rows * nb * size, maxLength: rows * nb * size }), floats(n * nb * QK_K))), ([w, x]) => {
      const nb = x.length / n / QK_K, rowBytes = nb * size;
      for (let b = 0; b < rows * nb; b++) for (const h of [half, half + 2]) w[b * size + h + 1] &= 0xbb;
      const q8 = new Uint8Array(n * nb * Q8_K_BYTES);
      quantizeRowQ8_KRef(q8, 0, x, 0, x.length);
      bytes.set(w, W);
      bytes.set(q8, X);
      const want = Array.from({ length: n }, (_, c) => Array.from({ length: rows }, (_, r) => Math.fround(k[plain](W + r * rowBytes, X + c * nb * Q8_K_BYTES, 0, nb))));
      fast[repack](W, rowBytes, rows, SCRATCH);
      fast[matvec](OUT, W, rowBytes, X + nb * Q8_K_BYTES, 0, nb, 0, rows);
      expect([...new Float32Array(memory.buffer, OUT, rows)]).toEqual(want[1]);
      fast[matmul](OUT, rows, W, rowBytes, X, nb * Q8_K_BYTES, 0, nb, 4, rows, n, 0);
      for (let c = 0; c < n; c++) expect([...new Float32Array(memory.buffer, OUT + (c * rows + 4) * 4, rows - 4)]).toEqual(want[c].slice(4));
    }), { numRuns: 12, endOnFailure: true }); // (shrinking arrays this long takes minutes)
  });
});
