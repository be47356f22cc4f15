import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  attend,
  attentionRef,
  chooseKernels,
  ggmlTypeByName,
  instantiateKernels,
  KERNEL_RESERVED_BYTES,
  kernelModule,
  rmsNormRef,
  rowBytes,
  ropeCache,
  ropeRef,
  sharedMemory,
  softmaxRef,
  swigluRef,
} from "@cpu-llm/kernels";

const memory = sharedMemory(64);
const B = KERNEL_RESERVED_BYTES; // test data goes above the kernels' reserved start
const k = instantiateKernels(kernelModule(chooseKernels().variant)!, memory);
const f32 = (at: number, n: number) => new Float32Array(memory.buffer, at, n);
const put = (at: number, x: ArrayLike<number>) => (f32(at, x.length).set(x), at);
const vec = (min: number, max: number, n: fc.Arbitrary<number>) =>
  n.chain((len) => fc.float32Array({ minLength: len, maxLength: len, noNaN: true, noDefaultInfinity: true, min, max }));
const close = (got: ArrayLike<number>, want: ArrayLike<number>, tol: number) => {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThanOrEqual(tol * (1 + Math.abs(want[i])));
};

describe("layer ops against their references", () => {
  it("rmsNorm", () => {
    fc.assert(
      fc.property(vec(-50, 50, fc.integer({ min: 1, max: 300 })), (x) => {
        const w = x.map((_, i) => 0.5 + (i % 7) * 0.1);
        k.rmsNorm(put((B + 65536), new Float32Array(x.length)), put((B + 131072), x), put((B + 196608), w), x.length, 1e-5);
        close(f32((B + 65536), x.length), rmsNormRef(x, w, 1e-5), 1e-6);
      }),
      { numRuns: 200 },
    );
  });

  it("softmax with scale sums to 1 and matches", () => {
    fc.assert(
      fc.property(vec(-30, 30, fc.integer({ min: 1, max: 500 })), fc.float({ min: Math.fround(0.01), max: 4, noNaN: true }), (x, s) => {
        k.softmax(put((B + 65536), x), x.length, s, 0);
        const got = f32((B + 65536), x.length);
        close(got, softmaxRef(x, s), 1e-6);
        expect(Math.abs(got.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-5);
      }),
      { numRuns: 200 },
    );
  });

  it("swiglu, add, scale, argmax", () => {
    fc.assert(
      fc.property(vec(-20, 20, fc.integer({ min: 1, max: 100 })), (g) => {
        const u = g.map((v) => v * 0.5 - 1);
        k.swiglu((B + 65536), put((B + 131072), g), put((B + 196608), u), g.length);
        close(f32((B + 65536), g.length), swigluRef(g, u), 1e-6);
        k.add((B + 65536), (B + 131072), (B + 196608), g.length);
        close(f32((B + 65536), g.length), g.map((v, i) => v + u[i]), 1e-7);
        k.scale((B + 65536), (B + 131072), 0.25, g.length);
        close(f32((B + 65536), g.length), g.map((v) => v * 0.25), 0);
        const first = g.indexOf(Math.max(...g));
        expect(k.argmax((B + 131072), g.length)).toBe(first);
      }),
      { numRuns: 200 },
    );
  });

  it.each(["norm", "neox"] as const)("rope %s rotates pairs by the cached angles, with ggml's fused roundings", (mode) => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4096 }), vec(-3, 3, fc.constant(3 * 64)), (pos, x) => {
        const cs = new Float32Array(48);
        ropeCache(cs, pos, { nDims: 48, freqBase: 10000 });
        (mode === "norm" ? k.ropeNorm : k.ropeNeox)(put((B + 65536), x), 3, 64, 48, put((B + 131072), cs));
        expect(f32((B + 65536), x.length)).toEqual(ropeRef(x, 3, 64, 48, cs, mode));
      }),
      { numRuns: 100 },
    );
  });

  it("rope cache: angle pos·base^(-2i/d), divided by frequency factors, times freq scale", () => {
    const cs = new Float32Array(8);
    const factors = Float32Array.of(1, 2, 4, 8);
    ropeCache(cs, 1000, { nDims: 8, freqBase: 500000, freqScale: 0.5, freqFactors: factors });
    for (let i = 0; i < 4; i++) {
      const angle = (0.5 * 1000 * 500000 ** (-2 * i / 8)) / factors[i];
      expect(cs[2 * i]).toBeCloseTo(Math.cos(angle), 3);
      expect(cs[2 * i + 1]).toBeCloseTo(Math.sin(angle), 3);
    }
  });

  // ggml's own values (ggml_rope_ext on (1, 0) pairs, llama.cpp's CPU build) for DeepSeek2's YaRN: factor 40,
  // original context 4096, 32 dimensions. At these entries, rope_yarn's mix and magnitude computed without the
  // FMAs GCC contracts them into round to another float (70 of a 512-position table's values did).
  it.each([[7, 23, 0x3b377632], [112, 23, 0x3d376dd9], [222, 23, 0x3db5b244], [271, 23, 0x3dddb967], [385, 21, 0x3efd2db1], [444, 23, 0x3e355078]])(
    "rope cache, YaRN: position %i, entry %i is ggml's bits (%i)",
    (pos, entry, bits) => {
      const cs = new Float32Array(32);
      const yarn = { extFactor: 1, attnFactor: 1, origContext: 4096, betaFast: 32, betaSlow: 1 };
      ropeCache(cs, pos, { nDims: 32, freqBase: 10000, freqScale: Math.fround(1 / 40), yarn });
      expect(new Uint32Array(cs.buffer)[entry]).toBe(bits);
    },
  );
});

describe("attention over a KV cache", () => {
  // 4 query heads over 2 KV heads (GQA), head size 64, 37 positions, cache laid out [pos][kvHead][dim].
  const nHead = 4, nKvHead = 2, headDim = 64, nPos = 37;
  const keys = Array.from({ length: nPos * nKvHead }, (_, i) => Float32Array.from({ length: headDim }, (_, j) => Math.sin(i * 0.7 + j * 0.31)));
  const values = Array.from({ length: nPos * nKvHead }, (_, i) => Float32Array.from({ length: headDim }, (_, j) => Math.cos(i * 0.4 - j * 0.13)));
  const q = Float32Array.from({ length: nHead * headDim }, (_, i) => Math.sin(i * 0.05) * 2);

  it.each([
    ["f32", "f32", 1e-5],
    ["f16", "f16", 2e-3],
    ["q8_0", "q8_0", 3e-2],
    ["q8_0", "f16", 3e-2],
  ])("K %s, V %s", (kType, vType, tol) => {
    const kt = ggmlTypeByName(kType)!;
    const vt = ggmlTypeByName(vType)!;
    const cache = (rows: Float32Array[], t: typeof kt, at: number) => {
      const bytesPerRow = rowBytes(t, headDim);
      const bytes = new Uint8Array(memory.buffer, at, rows.length * bytesPerRow);
      rows.forEach((r, i) => t.fromFloat!(bytes, i * bytesPerRow, r, 0, headDim));
      return { type: t, offset: at, headBytes: bytesPerRow, rowBytes: bytesPerRow * nKvHead };
    };
    const K = cache(keys, kt, 1 << 20);
    const V = cache(values, vt, 2 << 20);
    put((B + 65536), q);
    attend(k, (B + 131072), (B + 65536), { nHead, nKvHead, headDim, nPos, scale: 1 / Math.sqrt(headDim) }, K, V, { query: B + 200000, queryScales: B + 210000, scores: B + 220000, partial: B + 250000 });
    const got = f32((B + 131072), nHead * headDim);
    for (let h = 0; h < nHead; h++) {
      const g = Math.floor(h / 2);
      const ks = Array.from({ length: nPos }, (_, t) => keys[t * nKvHead + g]);
      const vs = Array.from({ length: nPos }, (_, t) => values[t * nKvHead + g]);
      const want = attentionRef(q.subarray(h * headDim, (h + 1) * headDim), ks, vs, 1 / Math.sqrt(headDim));
      close(got.subarray(h * headDim, (h + 1) * headDim), want, tol);
    }
  });
});
