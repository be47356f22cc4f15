import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from "@cpu-llm/kernels";

const f16round = (Math as { f16round?: (x: number) => number }).f16round;
const bits = new Uint32Array(1);
const asFloat = new Float32Array(bits.buffer);

describe("f16", () => {
  it("round-trips every finite half exactly", () => {
    for (let h = 0; h < 0x10000; h++) {
      if ((h & 0x7c00) === 0x7c00 && h & 0x3ff) continue; // NaN payloads
      expect(f32ToF16(f16ToF32(h))).toBe(h);
    }
  });

  it.skipIf(!f16round)("rounds floats like Math.f16round (round to nearest even)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (u) => {
        bits[0] = u;
        const x = asFloat[0];
        if (Number.isNaN(x)) return;
        expect(f16ToF32(f32ToF16(x))).toBe(f16round!(x));
      }),
      { numRuns: 20_000 },
    );
  });

  it("handles halfway cases, subnormals and overflow", () => {
    expect(f32ToF16(1 + 2 ** -11)).toBe(0x3c00); // tie to even: down
    expect(f32ToF16(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie to even: up
    expect(f32ToF16(2 ** -24)).toBe(0x0001);
    expect(f32ToF16(2 ** -25)).toBe(0x0000); // tie to even: zero
    expect(f32ToF16(65520)).toBe(0x7c00); // rounds past the largest half
    expect(f32ToF16(-0)).toBe(0x8000);
    expect(f16ToF32(0x7bff)).toBe(65504);
  });
});

describe("bf16", () => {
  it("round-trips every finite bf16 and rounds to nearest even", () => {
    for (let b = 0; b < 0x10000; b++) {
      if ((b & 0x7f80) === 0x7f80 && b & 0x7f) continue;
      expect(f32ToBf16(bf16ToF32(b))).toBe(b);
    }
    bits[0] = 0x3f808000; // exactly halfway between 0x3f80 and 0x3f81: stays even
    expect(f32ToBf16(asFloat[0])).toBe(0x3f80);
    bits[0] = 0x3f818000;
    expect(f32ToBf16(asFloat[0])).toBe(0x3f82);
  });
});
