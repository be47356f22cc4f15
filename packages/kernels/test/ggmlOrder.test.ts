// The kernels that reproduce llama.cpp's x86 summation order, bit for bit against their scalar references
// (src/reference/ggmlOrder.ts), over random lengths that cross every lane, group and tail boundary.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  accumulateRowsF32Ref,
  accumulateRowsF32TiledRef,
  dotSgemmRef,
  vecDotF16Ref,
  reduceAdd16Ref,
  expF32,
  softmaxRow,
  f16ToF32,
  f32ToF16,
  expGgmlRef,
  fmaRef,
  instantiateKernels,
  KERNEL_RESERVED_BYTES,
  kernelModule,
  quantizeActivationsQ8_0Ref,
  quantizeActivationsQ8_1Ref,
  quantizeRowQ4_0Ref,
  quantizeRowQ4_1Ref,
  quantizeRowQ5_0Ref,
  quantizeRowQ5_1Ref,
  dequantizeRowQ4_1,
  dequantizeRowQ5_0,
  dequantizeRowQ5_1,
  vecDotQ5_0Q8_0Ref,
  vecDotQ4_1Q8_1Ref,
  vecDotQ5_1Q8_1Ref,
  sharedMemory,
  softmaxGgmlRef,
  swigluGgmlRef,
  vecDotF32Ref,
  vecDotQ4_0Q8_0Ref,
  vecDotQ4_0Q8_0RepackedRef,
  vecDotQ4_0Q8_0UnpackedRef,
  vecDotQ8_0Q8_0LanesRef,
  vecDotQ8_0Q8_0Ref,
  quantizeRowQ8_0Ref,
  vecDotMagnitude,
  type KernelVariant,
} from "@cpu-llm/kernels";

const i8 = (b: number) => (b << 24) >> 24;
const variants = (["relaxed", "simd"] as KernelVariant[]).filter((v) => kernelModule(v) !== null);
const memory = sharedMemory(64);
const B = KERNEL_RESERVED_BYTES;
const heap = new Uint8Array(memory.buffer);
const f32 = (at: number, n: number) => new Float32Array(memory.buffer, at, n);
const put = (at: number, x: Float32Array | Uint8Array) => (heap.set(new Uint8Array(x.buffer, x.byteOffset, x.byteLength), at), at);
const floats = (n: fc.Arbitrary<number>, min = -10, max = 10) =>
  n.chain((len) => fc.float32Array({ minLength: len, maxLength: len, noNaN: true, noDefaultInfinity: true, min, max }));
/** n activation rows of nb blocks, quantized row by row as the kernels' callers do: blocks and (d, Σq) pairs. */
const activationRows = (x: Float32Array, n: number, nb: number) => {
  const xq = new Uint8Array(n * nb * 34);
  const scales = new Float32Array(2 * n * nb);
  for (let c = 0; c < n; c++) {
    quantizeActivationsQ8_0Ref(xq.subarray(c * nb * 34), scales.subarray(c * 2 * nb), x.subarray(c * nb * 32, (c + 1) * nb * 32), nb * 32);
  }
  return { xq, scales };
};
/** Dense pseudo-random floats in (-scale, scale) from a seed: quantized blocks full of distinct values. */
const dense = (seed: number, n: number, scale: number) => {
  let s = seed >>> 0 || 1;
  return Float32Array.from({ length: n }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 31 - 1) * scale);
};

describe("references", () => {
  it("fmaRef rounds once: exact ties of the double sum go the way the exact sum does", () => {
    // Exact sums 2^-70 below and 2^-60 above a float midpoint: the double sum lands on the midpoint, where
    // ties-to-even would go the wrong way (fround(a * b + c) gives 1 + 2^-22 and 1).
    const below = [1 + 2 ** -23, 2 ** -24 - 2 ** -47, 1 + 2 ** -23] as const;
    const above = [1 + 2 ** -12, (1 - 2 ** -12 + 2 ** -24) * 2 ** -24, 1] as const;
    expect(Math.fround(below[0] * below[1] + below[2])).toBe(1 + 2 ** -22);
    expect(fmaRef(...below)).toBe(1 + 2 ** -23);
    expect(Math.fround(above[0] * above[1] + above[2])).toBe(1);
    expect(fmaRef(...above)).toBe(1 + 2 ** -23);
    fc.assert(
      fc.property(fc.float({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }), fc.float({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }), fc.float({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }), (a, b, c) => {
        const exact = BigInt(Math.round(a * 2 ** 149)) * BigInt(Math.round(b * 2 ** 149)) + BigInt(Math.round(c * 2 ** 149)) * 2n ** 149n;
        const r = fmaRef(a, b, c);
        // r is the float nearest the exact value (in units of 2^-298): no float lies strictly between them.
        const rExact = BigInt(Math.round(r * 2 ** 149)) * 2n ** 149n;
        const gap = exact > rExact ? exact - rExact : rExact - exact;
        const ulp = BigInt(Math.round(Math.abs(r) > 0 ? 2 ** (Math.max(Math.floor(Math.log2(Math.abs(r))), -126) - 23 + 149) : 1)) * 2n ** 149n;
        expect(gap * 2n <= ulp).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  // ggml documents its error as 1.45 ulp plus the final rounding's 0.5.
  it("is within 2.5 ulp of e^x, 0 below the float range and +∞ above", () => {
    fc.assert(
      fc.property(fc.float({ min: -87, max: 88, noNaN: true }), (x) => {
        const want = Math.exp(x);
        expect(Math.abs(expGgmlRef(x) - want)).toBeLessThanOrEqual(2.5 * 2 ** (Math.floor(Math.log2(want)) - 23));
      }),
      { numRuns: 2000 },
    );
    expect(expGgmlRef(-Infinity)).toBe(0);
    expect(expGgmlRef(-200)).toBe(0);
    expect(expGgmlRef(200)).toBe(Infinity);
  });
});

describe("softmaxRow (a row that is not attention's: ggml_soft_max_f32 on exactly its length)", () => {
  it("whole groups of 16 as the padded reference; the rest by libm's expf, the sum in double", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 70 }), fc.integer(), (n, seed) => {
        const x = dense(seed, n, 8);
        const got = Float32Array.from(x);
        softmaxRow(got);
        const whole = n & ~15;
        const max = x.reduce((m, v) => Math.max(m, v), -Infinity);
        if (whole === n) expect(got).toEqual(softmaxGgmlRef(x, 1));
        // The unnormalised values: ggml_v_expf lanes for the groups, expf for the tail.
        const e = Float32Array.from(x, (v, i) => (i < whole ? expGgmlRef(Math.fround(v - max)) : expF32(Math.fround(v - max))));
        let sum = 0;
        for (let i = 0; i < whole; i += 16) sum += reduceAdd16Ref(e.subarray(i, i + 16));
        for (let i = whole; i < n; i++) sum += e[i];
        const inv = Math.fround(1 / sum);
        expect(got).toEqual(e.map((v) => Math.fround(v * inv)));
      }),
      { numRuns: 300 },
    );
  });
});

describe.each(variants)("%s kernels in llama.cpp's x86 order", (variant) => {
  const k = instantiateKernels(kernelModule(variant)!, memory);

  // Operands with full mantissas, as activations have: the plain build's emulated FMA double-rounds, which
  // shows only on exact ties (fma.ts), and hand-picked short floats make ties common.
  it("vecDotF32F32: 64 lanes, then the tail as GCC compiled it", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.integer(), (n, seed) => {
        const a = dense(seed, n, 10);
        const b = dense(seed ^ 0x9e3779b9, n, 10);
        expect(k.vecDotF32F32(put(B, a), put(B + 65536, b), a.length)).toBe(vecDotF32Ref(a, b, a.length));
      }),
      { numRuns: 300 },
    );
  });

  it("vecDotF16F16: vec_dot_f32's 64 lanes over halves, then the tail in double", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.integer(), (n, seed) => {
        const half = (v: number) => f16ToF32(f32ToF16(v));
        const a = dense(seed, n, 10).map(half);
        const b = dense(seed ^ 0x9e3779b9, n, 10).map(half);
        const h = (v: Float32Array) => new Uint8Array(Uint16Array.from(v, f32ToF16).buffer);
        expect(k.vecDotF16F16(put(B, h(a)), put(B + 65536, h(b)), n)).toBe(vecDotF16Ref(a, b, n));
      }),
      { numRuns: 300 },
    );
  });

  it.each([
    ["accumulateRowsF32", "ggml_vec_dot_f32 over positions, zero-padded to 64", accumulateRowsF32Ref],
    ["accumulateRowsF32Tiled", "tinyBLAS's 16 lanes over positions", accumulateRowsF32TiledRef],
  ] as const)("%s: %s", (kernel, _order, ref) => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 150 }), fc.integer({ min: 1, max: 12 }), (nPos, n) => {
        const values = Array.from({ length: nPos }, (_, t) => Float32Array.from({ length: n }, (_, j) => Math.fround(Math.sin(t * 1.3 + j * 0.7))));
        const p = Float32Array.from({ length: nPos }, (_, t) => Math.fround(1 / (1 + t)));
        const rows = new Float32Array(nPos * n);
        values.forEach((v, t) => rows.set(v, t * n));
        k[kernel](B + 131072, put(B, p), put(B + 65536, rows), n * 4, nPos, n);
        expect(Array.from(f32(B + 131072, n))).toEqual(Array.from({ length: n }, (_, j) => ref(p, values, j)));
      }),
      { numRuns: 100 },
    );
  });

  // llama.cpp multiplies a batch by an F32 or F16 matrix (a multiple of 4 rows and 16 columns) with tinyBLAS:
  // 16 FMA lanes over the columns, for F16 over halves widened to floats (the activations rounded to half).
  it.each(["f32", "f16"] as const)("matmul %s: tinyBLAS's 16 lanes per row and activation row, in both orders of storage", (type) => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 2, max: 5 }), fc.integer(), (groups, rows, n, seed) => {
        const cols = 16 * groups;
        const half = (v: number) => f16ToF32(f32ToF16(v));
        const w = dense(seed, rows * cols, 2).map((v) => (type === "f16" ? half(v) : v));
        const x = dense(seed ^ 0x5bd1e995, n * cols, 10).map((v) => (type === "f16" ? half(v) : v));
        const bytesOf = (v: Float32Array) => new Uint8Array(type === "f32" ? v.buffer : Uint16Array.from(v, f32ToF16).buffer);
        const width = type === "f32" ? 4 : 2;
        k[type === "f32" ? "matmulF32" : "matmulF16"](B + 196608, rows, put(B, bytesOf(w)), cols * width, put(B + 65536, bytesOf(x)), cols * width, 0, cols, 0, rows, n, B + 300000);
        for (let c = 0; c < n; c++) {
          for (let r = 0; r < rows; r++) {
            const want = dotSgemmRef((i) => w[r * cols + i], (i) => x[c * cols + i], cols);
            expect(f32(B + 196608, n * rows)[c * rows + r]).toBe(want);
          }
        }
      }),
      { numRuns: 100 },
    );
  });

  it("the two orders part beyond 16 positions (so the references tell them apart)", () => {
    const nPos = 40;
    const values = Array.from({ length: nPos }, (_, t) => [Math.fround(Math.sin(t * 1.3))]);
    const p = Float32Array.from({ length: nPos }, (_, t) => Math.fround(1 / (1 + t)));
    expect(accumulateRowsF32TiledRef(p, values, 0)).not.toBe(accumulateRowsF32Ref(p, values, 0));
  });

  it("softmax: ggml_v_expf in groups of 16, each group's sum in _mm512_reduce_add_ps order", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.integer(), fc.float({ min: Math.fround(0.01), max: 4, noNaN: true }), (n, seed, s) => {
        const x = dense(seed, n, 30);
        k.softmax(put(B, x), x.length, s, 0);
        expect(f32(B, x.length)).toEqual(softmaxGgmlRef(x, s));
      }),
      { numRuns: 300 },
    );
  });

  it("softmax with ALiBi: slope · -(distance) added to every scaled score, as ggml_soft_max_ext", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.integer(), fc.float({ min: Math.fround(0.01), max: 1, noNaN: true }), (n, seed, slope) => {
        const x = dense(seed, n, 30);
        k.softmax(put(B, x), x.length, 0.25, slope);
        expect(f32(B, x.length)).toEqual(softmaxGgmlRef(x, 0.25, slope));
      }),
      { numRuns: 300 },
    );
  });

  it("swiglu: ggml_v_silu on whole groups of 16 (the tail uses libm's expf: checked to a tolerance)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 200 }), fc.integer(), (n, seed) => {
        const g = dense(seed, n, 20);
        const u = g.map((v) => Math.fround(v * 0.5 - 1));
        k.swiglu(B + 131072, put(B, g), put(B + 65536, u), g.length);
        const got = f32(B + 131072, g.length);
        const whole = g.length & ~15;
        expect(got.subarray(0, whole)).toEqual(swigluGgmlRef(g, u));
        for (let i = whole; i < g.length; i++) {
          const want = (g[i] / (1 + Math.exp(-g[i]))) * u[i];
          expect(Math.abs(got[i] - want)).toBeLessThanOrEqual(1e-6 * (1 + Math.abs(want)));
        }
      }),
      { numRuns: 200 },
    );
  });

  it("Q4_0 rows ggml repacks (a multiple of 8): one float32 fma per block, in the matvec and the matmul after repackQ4_0x8", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 9 }), fc.integer(), fc.integer({ min: 0, max: 35 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 5 }),
        (nb, seed, pad, groups, n) => {
          const rows = 8 * groups;
          const w = dense(seed, rows * nb * 32, 3);
          const x = dense(seed ^ 0x5bd1e995, n * nb * 32, 10);
          const wq = new Uint8Array(rows * nb * 18);
          quantizeRowQ4_0Ref(wq, 0, w, 0, w.length);
          const { xq, scales } = activationRows(x, n, nb);
          k.repackQ4_0x8(put(B + pad, wq), nb * 18, rows, B + 300000);
          put(B + 65536 + pad, xq);
          put(B + 131072, new Uint8Array(scales.buffer));
          k.matvecQ4_0x8(B + 196608, B + pad, nb * 18, B + 65536 + pad, B + 131072, nb, 0, rows);
          k.matmulQ4_0x8(B + 200000, rows, B + pad, nb * 18, B + 65536 + pad, nb * 34, B + 131072, nb, 0, rows, n, B + 300000);
          for (let r = 0; r < rows; r++) {
            const want = vecDotQ4_0Q8_0RepackedRef(wq, r * nb * 18, xq, 0, nb);
            expect(f32(B + 196608, rows)[r]).toBe(want);
            const bound = 1e-6 * vecDotMagnitude(wq, r * nb * 18, xq, 0, nb, 18); // float32 accumulation error
            expect(Math.abs(want - vecDotQ4_0Q8_0Ref(wq, r * nb * 18, xq, 0, nb))).toBeLessThanOrEqual(bound);
            for (let c = 0; c < n; c++) expect(f32(B + 200000, rows * n)[c * rows + r]).toBe(vecDotQ4_0Q8_0RepackedRef(wq, r * nb * 18, xq, c * nb * 34, nb));
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it("Q4_0 rows ggml does not repack: vec_dot_q4_0_q8_0's eight float lanes", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9 }), fc.integer(), fc.integer({ min: 0, max: 35 }), (nb, seed, pad) => {
        const w = dense(seed, nb * 32, 3);
        const x = dense(seed ^ 0x5bd1e995, nb * 32, 10);
        const rows = 3;
        const wq = new Uint8Array(rows * nb * 18);
        for (let r = 0; r < rows; r++) quantizeRowQ4_0Ref(wq, r * nb * 18, w.map((v) => v * (r + 1)), 0, w.length);
        const xq = new Uint8Array(nb * 34);
        const scales = new Float32Array(2 * nb);
        quantizeActivationsQ8_0Ref(xq, scales, x, x.length);
        k.matvecQ4_0Unpacked(B + 196608, put(B + pad, wq), nb * 18, put(B + 65536 + pad, xq), put(B + 131072, scales), nb, 0, rows);
        for (let r = 0; r < rows; r++) {
          const want = vecDotQ4_0Q8_0UnpackedRef(wq, r * nb * 18, xq, 0, nb);
          expect(f32(B + 196608, rows)[r]).toBe(want);
          const bound = 1e-6 * vecDotMagnitude(wq, r * nb * 18, xq, 0, nb, 18); // float32 accumulation error
          expect(Math.abs(want - vecDotQ4_0Q8_0Ref(wq, r * nb * 18, xq, 0, nb))).toBeLessThanOrEqual(bound);
        }
        k.matmulQ4_0Unpacked(B + 196608, rows, B + pad, nb * 18, B + 65536 + pad, nb * 34, B + 131072, nb, 0, rows, 1, B + 300000);
        for (let r = 0; r < rows; r++) expect(f32(B + 196608, rows)[r]).toBe(vecDotQ4_0Q8_0UnpackedRef(wq, r * nb * 18, xq, 0, nb));
      }),
      { numRuns: 200 },
    );
  });

  it("Q8_0: vec_dot_q8_0_q8_0's eight float lanes in the matvec (4-row and single rows) and the matmul (4 columns and the rest)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9 }), fc.integer(), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 6 }), (nb, seed, rows, n) => {
        const w = dense(seed, rows * nb * 32, 3);
        const x = dense(seed ^ 0x5bd1e995, n * nb * 32, 10);
        const wq = new Uint8Array(rows * nb * 34);
        quantizeRowQ8_0Ref(wq, 0, w, 0, w.length);
        if (seed % 3 === 0) wq[2] = 0x80; // a weight of -128, which only a crafted file holds
        const { xq, scales } = activationRows(x, n, nb);
        put(B, wq);
        put(B + 65536, xq);
        put(B + 131072, new Uint8Array(scales.buffer));
        k.matvecQ8_0(B + 196608, B, nb * 34, B + 65536, B + 131072, nb, 0, rows);
        k.matmulQ8_0(B + 200000, rows, B, nb * 34, B + 65536, nb * 34, B + 131072, nb, 0, rows, n, B + 300000);
        for (let r = 0; r < rows; r++) {
          const want = vecDotQ8_0Q8_0LanesRef(wq, r * nb * 34, xq, 0, nb);
          expect(f32(B + 196608, rows)[r]).toBe(want);
          const bound = 1e-6 * vecDotMagnitude(wq, r * nb * 34, xq, 0, nb, 34);
          expect(Math.abs(want - vecDotQ8_0Q8_0Ref(wq, r * nb * 34, xq, 0, nb))).toBeLessThanOrEqual(bound);
          for (let c = 0; c < n; c++) expect(f32(B + 200000, rows * n)[c * rows + r]).toBe(vecDotQ8_0Q8_0LanesRef(wq, r * nb * 34, xq, c * nb * 34, nb));
        }
      }),
      { numRuns: 200 },
    );
  });

  it("the Q8_1 converter equals quantize_row_q8_1's x86 bytes, and its (d, s) pairs", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9 }), fc.integer(), (nb, seed) => {
        const x = dense(seed, nb * 32, 10);
        if (seed % 4 === 0) x.fill(0, 0, 32); // a zero block: d = s = 0
        const want = new Uint8Array(nb * 36);
        const wantScales = new Float32Array(2 * nb);
        quantizeActivationsQ8_1Ref(want, wantScales, x, x.length);
        k.quantizeRowQ8_1(B + 65536, B + 131072, put(B, x), x.length);
        expect(heap.slice(B + 65536, B + 65536 + want.length)).toEqual(want);
        expect(f32(B + 131072, 2 * nb)).toEqual(wantScales);
      }),
      { numRuns: 100 },
    );
  });

  // Q5_0 against Q8_0 activations, Q4_1 and Q5_1 against Q8_1: matvec and matmul equal vec_dot's eight lanes
  // (plus the minimum's fma chain) bit for bit, and that order agrees with the dequantized product to float32
  // accumulation error.
  it.each([
    { type: "q5_0", bytes: 22, quantize: quantizeRowQ5_0Ref, dequantize: dequantizeRowQ5_0, ref: vecDotQ5_0Q8_0Ref, matvec: "matvecQ5_0", matmul: "matmulQ5_0", q8: 1 },
    { type: "q4_1", bytes: 20, quantize: quantizeRowQ4_1Ref, dequantize: dequantizeRowQ4_1, ref: vecDotQ4_1Q8_1Ref, matvec: "matvecQ4_1", matmul: "matmulQ4_1", q8: 0 },
    { type: "q5_1", bytes: 24, quantize: quantizeRowQ5_1Ref, dequantize: dequantizeRowQ5_1, ref: vecDotQ5_1Q8_1Ref, matvec: "matvecQ5_1", matmul: "matmulQ5_1", q8: 0 },
  ] as const)("$type: $matvec and $matmul in vec_dot's order", ({ bytes, quantize, dequantize, ref, matvec, matmul, q8 }) => {
    const xBytes = q8 ? 34 : 36;
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9 }), fc.integer(), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 4 }), (nb, seed, rows, n) => {
        // Offsets so a row's minimum is sometimes far from zero (Q4_1/Q5_1's m carries it).
        const w = dense(seed, rows * nb * 32, 3).map((v, i) => v + ((i >> 5) % 3) - 1);
        const x = dense(seed ^ 0x5bd1e995, n * nb * 32, 10);
        const wq = new Uint8Array(rows * nb * bytes);
        quantize(wq, 0, w, 0, w.length);
        const xq = new Uint8Array(n * nb * xBytes);
        const scales = new Float32Array(2 * n * nb);
        for (let c = 0; c < n; c++) {
          const quantizeX = q8 ? quantizeActivationsQ8_0Ref : quantizeActivationsQ8_1Ref;
          quantizeX(xq.subarray(c * nb * xBytes), scales.subarray(c * 2 * nb), x.subarray(c * nb * 32, (c + 1) * nb * 32), nb * 32);
        }
        put(B, wq);
        put(B + 65536, xq);
        put(B + 131072, new Uint8Array(scales.buffer));
        k[matvec](B + 196608, B, nb * bytes, B + 65536, B + 131072, nb, 0, rows);
        k[matmul](B + 200000, rows, B, nb * bytes, B + 65536, nb * xBytes, B + 131072, nb, 0, rows, n, B + 300000);
        const wf = new Float32Array(nb * 32);
        for (let r = 0; r < rows; r++) {
          const want = ref(wq, r * nb * bytes, xq, 0, nb);
          expect(f32(B + 196608, rows)[r]).toBe(want);
          for (let c = 0; c < n; c++) expect(f32(B + 200000, rows * n)[c * rows + r]).toBe(ref(wq, r * nb * bytes, xq, c * nb * xBytes, nb));
          dequantize(wf, 0, wq, r * nb * bytes, wf.length);
          let exact = 0, magnitude = 0;
          for (let i = 0; i < wf.length; i++) {
            const b = i >> 5;
            const xv = (q8 ? i8(xq[b * 34 + 2 + (i & 31)]) : i8(xq[b * 36 + 4 + (i & 31)])) * scales[2 * b];
            exact += wf[i] * xv;
            magnitude += Math.abs(wf[i] * xv);
          }
          // Q4_1/Q5_1 use s = f16(d·Σq) for the minimum's term, a half's rounding (2^-11) of m·d·Σq.
          expect(Math.abs(want - exact)).toBeLessThanOrEqual(2e-3 * magnitude + 1e-6);
        }
      }),
      { numRuns: 150 },
    );
  });
});
