// Our reference quantizers against llama.cpp's own output: its quantized files of the same F32 models
// must come out byte for byte (ggml's quantize_row_*_ref, F16 round to nearest even).
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { ggmlTypeByName } from "@cpu-llm/kernels";
import { readGguf, readTensorBytes, readTensorFloats } from "@cpu-llm/engine";
import { fixture, fixturesPresent } from "./helpers/fixtures.js";
import { QUANTIZER_COLS, QUANTIZER_ROWS, quantizerInputs } from "./helpers/quantizerInputs.js";

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

// K-quants and the older q4_1, q5_0, q5_1: ggml's quantize_row_*_ref output for the rows of quantizerInputs(), kept in test/fixtures/kquants
// (made with ggml_quantize_chunk without an importance matrix, what llama-quantize calls; README there).
describe("K-quant and q4_1/q5_x quantizers are bit-exact with ggml", () => {
  const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures", "kquants");
  it.each(["q2_K", "q3_K", "q4_K", "q5_K", "q6_K", "q4_1", "q5_0", "q5_1"])("%s", (name) => {
    const type = ggmlTypeByName(name)!;
    const theirs = new Uint8Array(fs.readFileSync(path.join(dir, `${name}.bin`)));
    const ours = new Uint8Array(theirs.length);
    type.fromFloat!(ours, 0, quantizerInputs(), 0, QUANTIZER_ROWS * QUANTIZER_COLS);
    // The first block that differs, with its row (the rows' kinds: quantizerInputs).
    const at = ours.findIndex((b, i) => b !== theirs[i]);
    const block = at < 0 ? -1 : Math.floor(at / type.typeSize);
    expect({ block, row: block < 0 ? -1 : Math.floor((block * type.blockSize) / QUANTIZER_COLS), byteInBlock: at < 0 ? -1 : at % type.typeSize }).toEqual({ block: -1, row: -1, byteInBlock: -1 });
  });
});
