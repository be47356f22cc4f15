import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  dequantizeRowQ4_0,
  dequantizeRowQ8_0,
  f16ToF32,
  ggmlType,
  ggmlTypeByName,
  GGML_TYPES,
  quantizeRowQ4_0Ref,
  quantizeRowQ8_0Ref,
  Q4_0_BYTES,
  Q8_0_BYTES,
  toFloatOf,
  UnsupportedTensorTypeError,
} from "@cpu-llm/kernels";

const rows = (maxBlocks: number) =>
  fc.integer({ min: 1, max: maxBlocks }).chain((blocks) =>
    fc.float32Array({ minLength: blocks * 32, maxLength: blocks * 32, noNaN: true, noDefaultInfinity: true, min: -1e4, max: 1e4 }),
  );

describe("Q8_0 reference quantizer", () => {
  it("reconstructs every value within half a step, from any offset", () => {
    fc.assert(
      fc.property(rows(5), fc.integer({ min: 0, max: 40 }), (x, pad) => {
        const blocks = x.length / 32;
        const q = new Uint8Array(pad + blocks * Q8_0_BYTES);
        quantizeRowQ8_0Ref(q, pad, x, 0, x.length);
        const y = new Float32Array(x.length);
        dequantizeRowQ8_0(y, 0, q, pad, x.length);
        for (let b = 0; b < blocks; b++) {
          const d = f16ToF32(q[pad + b * Q8_0_BYTES] | (q[pad + b * Q8_0_BYTES + 1] << 8));
          // q = round(x/d) is within half a step; the stored scale is d rounded to f16 (2^-11 relative,
          // 2^-25 absolute below f16's normal range), which moves q·d by up to 127 such roundings.
          const amax = Math.max(...Array.from(x.subarray(b * 32, b * 32 + 32), Math.abs));
          const exact = Math.fround(amax / 127);
          for (let j = 0; j < 32; j++) {
            const i = b * 32 + j;
            expect(Math.abs(x[i] - y[i])).toBeLessThanOrEqual(exact * 0.5 * (1 + 2 ** -20) + 127 * Math.max(exact * 2 ** -11, 2 ** -25));
          }
          expect(Math.abs(d - exact)).toBeLessThanOrEqual(Math.max(exact * 2 ** -11, 2 ** -25));
        }
      }),
      { numRuns: 300 },
    );
  });

  it("maps the largest magnitude to ±127 and zeros to zero", () => {
    const x = new Float32Array(32);
    x[3] = -2.5;
    x[7] = 1;
    const q = new Uint8Array(Q8_0_BYTES);
    quantizeRowQ8_0Ref(q, 0, x, 0, 32);
    expect((q[2 + 3] << 24) >> 24).toBe(-127);
    expect(q[2 + 7]).toBe(51); // roundf(1 / (2.5/127)) = roundf(50.8)
    expect(f16ToF32(q[0] | (q[1] << 8))).toBeCloseTo(2.5 / 127, 5);
    const zero = new Uint8Array(Q8_0_BYTES);
    quantizeRowQ8_0Ref(zero, 0, new Float32Array(32), 0, 32);
    expect([...zero]).toEqual(new Array(Q8_0_BYTES).fill(0));
  });
});

describe("Q4_0 reference quantizer", () => {
  it("reconstructs every value within one step and keeps the nibble layout", () => {
    fc.assert(
      fc.property(rows(5), fc.integer({ min: 0, max: 40 }), (x, pad) => {
        const blocks = x.length / 32;
        const q = new Uint8Array(pad + blocks * Q4_0_BYTES);
        quantizeRowQ4_0Ref(q, pad, x, 0, x.length);
        const y = new Float32Array(x.length);
        dequantizeRowQ4_0(y, 0, q, pad, x.length);
        for (let b = 0; b < blocks; b++) {
          const o = pad + b * Q4_0_BYTES;
          for (let j = 0; j < 32; j++) {
            const i = b * 32 + j;
            // Rounding is to the nearest step except at +8, which clamps to 7: at most one step off, plus up to
            // 8 times the f16 rounding of the scale.
            const exact = Math.abs(Math.fround(Math.max(...Array.from(x.subarray(b * 32, b * 32 + 32), Math.abs)) / 8));
            expect(Math.abs(x[i] - y[i])).toBeLessThanOrEqual(exact * (1 + 2 ** -20) + 8 * Math.max(exact * 2 ** -11, 2 ** -25));
            const nibble = j < 16 ? q[o + 2 + j] & 0x0f : q[o + 2 + j - 16] >> 4;
            expect(y[i]).toBe((nibble - 8) * f16ToF32(q[o] | (q[o + 1] << 8)));
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it("maps the signed extreme to -8 (nibble 0)", () => {
    const x = Float32Array.from({ length: 32 }, (_, i) => (i === 5 ? 4 : i === 20 ? -3 : 0));
    const q = new Uint8Array(Q4_0_BYTES);
    quantizeRowQ4_0Ref(q, 0, x, 0, 32);
    expect(f16ToF32(q[0] | (q[1] << 8))).toBe(-0.5);
    expect(q[2 + 5] & 0x0f).toBe(0);
    expect(q[2 + 4] >> 4).toBe(14); // element 20: -3 / -0.5 + 8.5 = 14.5 → 14
  });
});

describe("type traits table", () => {
  it("knows ggml's block sizes and names", () => {
    expect(ggmlTypeByName("Q4_0")).toMatchObject({ id: 2, blockSize: 32, typeSize: 18 });
    expect(ggmlTypeByName("q8_0")).toMatchObject({ id: 8, blockSize: 32, typeSize: 34 });
    expect(ggmlType(12)).toMatchObject({ name: "q4_K", blockSize: 256, typeSize: 144 });
    expect(ggmlType(30)).toMatchObject({ name: "bf16", blockSize: 1, typeSize: 2 });
    expect(ggmlType(4)).toBeUndefined();
    for (const t of GGML_TYPES) expect(ggmlType(t.id)).toBe(t);
  });

  it("refuses to compute with a type it can only list", () => {
    expect(() => toFloatOf(ggmlTypeByName("iq4_xs")!, "blk.0.ffn_down.weight")).toThrow(UnsupportedTensorTypeError);
    expect(() => toFloatOf(ggmlTypeByName("iq4_xs")!, "blk.0.ffn_down.weight")).toThrow(/blk\.0\.ffn_down\.weight.*iq4_xs/);
  });
});
