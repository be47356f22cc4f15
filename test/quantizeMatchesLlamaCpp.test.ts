// Our reference quantizers against llama.cpp's own output: its quantized files of the same F32 models
// must come out byte for byte (ggml's quantize_row_*_ref, F16 round to nearest even).
import { describe, expect, it } from "vitest";
import { readGguf, readTensorBytes, readTensorFloats } from "@cpu-llm/engine";
import { fixture, fixturesPresent } from "./helpers/fixtures.js";

const cases = [
  ["stories260K", "f16"],
  ["stories260K", "q8_0"],
  ["stories260K", "q4_0"],
  ["llama-spm", "q8_0"],
  ["llama-spm", "q4_0"],
] as const;

describe.skipIf(!fixturesPresent())("quantizers are bit-exact with llama.cpp", () => {
  it.each(cases)("%s F32 → %s", (model, type) => {
    const source = readGguf(fixture("models", `${model}-f32.gguf`));
    const target = readGguf(fixture("models", `${model}-${type}.gguf`));
    let compared = 0;
    for (const t of target.tensors) {
      if (t.type.name !== type) continue; // e.g. norms stay F32, ffn_down rows of 172 cannot be Q8_0
      const floats = readTensorFloats(source, t.name);
      const ours = new Uint8Array(t.nBytes);
      t.type.fromFloat!(ours, 0, floats, 0, t.nElements);
      const theirs = readTensorBytes(target.path!, t);
      const firstDiff = ours.findIndex((b, i) => b !== theirs[i]);
      expect({ tensor: t.name, firstDiff }).toEqual({ tensor: t.name, firstDiff: -1 });
      compared++;
    }
    expect(compared).toBeGreaterThanOrEqual(16);
  });
});
