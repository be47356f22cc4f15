import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  chooseKernels,
  instantiateKernels,
  KERNEL_RESERVED_BYTES,
  kernelModule,
  quantizeActivationsQ8_0Ref,
  quantizeRowQ4_0Ref,
  quantizeRowQ8_0Ref,
  sharedMemory,
  vecDotQ4_0Q8_0Ref,
  vecDotQ8_0Q8_0Ref,
  type KernelVariant,
} from "@cpu-llm/kernels";

const variants = (["relaxed", "simd"] as KernelVariant[]).filter((v) => kernelModule(v) !== null);
const memory = sharedMemory(64); // 4 MiB
/** Test data goes above the kernels' reserved start (guard and half → float table). */
const B = KERNEL_RESERVED_BYTES;
const heap = new Uint8Array(memory.buffer);
const kernels = Object.fromEntries(variants.map((v) => [v, instantiateKernels(kernelModule(v)!, memory)]));

const floats = (blocks: number) =>
  fc.float32Array({ minLength: blocks * 32, maxLength: blocks * 32, noNaN: true, noDefaultInfinity: true, min: -100, max: 100 });

/** Places src at byte offset `at` of the shared heap (as f32 when given floats). */
function put(at: number, src: Uint8Array | Float32Array): number {
  heap.set(src instanceof Float32Array ? new Uint8Array(src.buffer, src.byteOffset, src.byteLength) : src, at);
  return at;
}

describe("kernel choice", () => {
  it("picks relaxed SIMD on Node 22+ when it agrees with simd128", () => {
    const choice = chooseKernels();
    expect(variants).toContain("simd");
    expect(choice.variant).toBe(variants.includes("relaxed") ? "relaxed" : "simd");
    expect(choice.reason.length).toBeGreaterThan(0);
  });
});

describe.each(variants)("%s kernels", (variant) => {
  const k = kernels[variant];

  it("quantizeRowQ8_0 is bit-exact with ggml-cpu's x86 activation quantizer, scales included", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }).chain((nb) => floats(nb)), (x) => {
        const nb = x.length / 32;
        const src = put(B, x); // f32 loads need no alignment in wasm, but keep the common case aligned
        k.quantizeRowQ8_0((B + 65536), (B + 131072), src, x.length);
        const want = new Uint8Array(nb * 34);
        const wantScales = new Float32Array(2 * nb);
        quantizeActivationsQ8_0Ref(want, wantScales, x, x.length);
        expect(heap.subarray((B + 65536), (B + 65536) + nb * 34)).toEqual(want);
        expect(new Uint8Array(memory.buffer, (B + 131072), 8 * nb)).toEqual(new Uint8Array(wantScales.buffer));
      }),
      { numRuns: 300 },
    );
  });

  it("quantizeRowQ8_0 rounds exact halves to even (unlike the file quantizer's half away)", () => {
    const x = Float32Array.from({ length: 32 }, (_, j) => (j === 0 ? 127 : j === 1 ? 2.5 : j === 2 ? -3.5 : 0.5));
    k.quantizeRowQ8_0((B + 65536), (B + 131072), put(B, x), 32);
    const q = new Int8Array(memory.buffer, (B + 65536) + 2, 32);
    expect([q[0], q[1], q[2], q[3]]).toEqual([127, 2, -4, 0]);
    const file = new Uint8Array(34);
    quantizeRowQ8_0Ref(file, 0, x, 0, 32);
    expect([file[3] << 24 >> 24, file[4] << 24 >> 24, file[5] << 24 >> 24]).toEqual([3, -4, 1]);
  });

  it("vecDotQ8_0Q8_0 matches the reference", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9 }).chain((nb) => fc.tuple(floats(nb), floats(nb))), ([w, x]) => {
        const nb = w.length / 32;
        const wq = new Uint8Array(nb * 34);
        quantizeRowQ8_0Ref(wq, 0, w, 0, w.length);
        const xq = new Uint8Array(nb * 34);
        const scales = new Float32Array(2 * nb);
        quantizeActivationsQ8_0Ref(xq, scales, x, x.length);
        put((B + 9000), new Uint8Array(scales.buffer));
        const got = k.vecDotQ8_0Q8_0(put((B + 1003), wq), put((B + 5001), xq), (B + 9000), nb);
        const want = vecDotQ8_0Q8_0Ref(wq, 0, xq, 0, nb);
        const scale = Math.abs(want) + nb * 32 * 127 * 127 * maxScale(wq, 34, nb) * maxScale(xq, 34, nb);
        expect(Math.abs(got - want)).toBeLessThanOrEqual(scale * 2e-6);
      }),
      { numRuns: 200 },
    );
  });

  it("matvec over a row range equals the row-by-row dot products", () => {
    const rows = 24;
    const nb = 5;
    const w = Float32Array.from({ length: rows * nb * 32 }, (_, i) => Math.sin(i * 0.37) * 3);
    const x = Float32Array.from({ length: nb * 32 }, (_, i) => Math.cos(i * 0.11));
    for (const [type, bytes, quantize, matvec] of [
      ["q4_0", 18, quantizeRowQ4_0Ref, k.matvecQ4_0x8],
      ["q8_0", 34, quantizeRowQ8_0Ref, k.matvecQ8_0],
    ] as const) {
      const wq = new Uint8Array(rows * nb * bytes);
      quantize(wq, 0, w, 0, w.length);
      put((B + 1001), wq);
      if (type === "q4_0") k.repackQ4_0x8(B + 1001, nb * bytes, rows, B + 60000); // whole groups of 8 rows
      k.quantizeRowQ8_0((B + 20000), (B + 21000), put((B + 22000), x), x.length);
      const out = (B + 40000);
      new Float32Array(memory.buffer, out, rows).fill(NaN);
      matvec(out, (B + 1001), nb * bytes, (B + 20000), (B + 21000), nb, 8, 16);
      const got = new Float32Array(memory.buffer, out, rows);
      expect(Number.isNaN(got[7]) && Number.isNaN(got[16]), type).toBe(true);
      const xq = heap.slice((B + 20000), (B + 20000) + nb * 34);
      for (let r = 8; r < 16; r++) {
        const want = type === "q4_0" ? vecDotQ4_0Q8_0Ref(wq, r * nb * bytes, xq, 0, nb) : vecDotQ8_0Q8_0Ref(wq, r * nb * bytes, xq, 0, nb);
        expect(got[r]).toBeCloseTo(want, 3);
      }
    }
  });
});

describe.skipIf(variants.length < 2)("relaxed and simd128 variants", () => {
  it("give bit-identical Q4_0 products (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }).chain((nb) => fc.tuple(floats(8 * nb), floats(nb))), ([w, x]) => {
        const nb = x.length / 32;
        const wq = new Uint8Array(8 * nb * 18);
        quantizeRowQ4_0Ref(wq, 0, w, 0, w.length);
        kernels.simd.quantizeRowQ8_0((B + 5000), (B + 9000), put((B + 12000), x), x.length);
        kernels.simd.repackQ4_0x8(put((B + 20000), wq), nb * 18, 8, B + 40000);
        kernels.relaxed.matvecQ4_0x8(B + 60000, B + 20000, nb * 18, B + 5000, B + 9000, nb, 0, 8);
        kernels.simd.matvecQ4_0x8(B + 60100, B + 20000, nb * 18, B + 5000, B + 9000, nb, 0, 8);
        const [relaxed, simd] = [new Float32Array(memory.buffer, B + 60000, 8), new Float32Array(memory.buffer, B + 60100, 8)];
        expect(relaxed.every((v, i) => Object.is(v, simd[i]))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});

function maxScale(q: Uint8Array, blockBytes: number, nb: number): number {
  let m = 0;
  const view = new DataView(q.buffer, q.byteOffset);
  for (let b = 0; b < nb; b++) m = Math.max(m, Math.abs(f16(view.getUint16(b * blockBytes, true))));
  return m;
}
function f16(h: number): number {
  const e = (h >> 10) & 31;
  const m = h & 1023;
  const v = e === 0 ? m * 2 ** -24 : (1024 + m) * 2 ** (e - 25);
  return h & 0x8000 ? -v : v;
}
