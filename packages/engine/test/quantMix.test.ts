// llama-quantize's per-tensor types (quantMix.ts) against the files it made: every tensor of the K-quant
// fixtures (one random Llama-shaped model quantized to each type by llama.cpp 34af94cd) must get the type the
// file holds. And a synthetic file of each mix holds what the rules say, for a shape wide enough for them.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { checkModel, metaNumber, readGguf } from "../src/index.js";
import { mixTypes, type FileType } from "../src/quantMix.js";
import { SYNTH_PRESETS, writeSynth } from "../src/synth.js";

const FIXTURES = process.env.CPU_LLM_FIXTURES ?? path.resolve(import.meta.dirname, "../../../../shared/fixtures");
const haveFixtures = fs.existsSync(path.join(FIXTURES, "models", "kquant-q4_k_m.gguf"));

describe.skipIf(!haveFixtures)("llama-quantize's tensor types", () => {
  it.each(["q2_k", "q3_k_m", "q4_k_m", "q5_k_m", "q6_k"] as const)("kquant-%s.gguf: every tensor has the type the rules give", (fileType: FileType) => {
    const file = readGguf(path.join(FIXTURES, "models", `kquant-${fileType}.gguf`));
    const model = {
      nLayer: metaNumber(file, "llama.block_count")!,
      nGqa: metaNumber(file, "llama.attention.head_count")! / metaNumber(file, "llama.attention.head_count_kv")!,
      tied: !file.tensors.some((t) => t.name === "output.weight"),
    };
    const types = mixTypes(fileType, file.tensors, model);
    const matrices = file.tensors.filter((t) => t.dims.length >= 2);
    expect(types.size).toBe(matrices.length);
    for (const t of matrices) expect(`${t.name} ${types.get(t.name)}`).toBe(`${t.name} ${t.type.name}`);
  });
});

describe("synthetic K-quant mixes", () => {
  it("Q4_K_M on 8 layers: attn_v and ffn_down of layers 0, 3, 6, 7 in q6_K (use_more_bits), output q6_K, the rest q4_K", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cpu-llm-mix-"));
    try {
      const file = path.join(dir, "m.gguf");
      writeSynth(file, "llama", "tiny-k", "q4_k_m");
      const types = Object.fromEntries(readGguf(file).tensors.map((t) => [t.name, t.type.name]));
      for (let l = 0; l < 8; l++) {
        const more = [0, 3, 6, 7].includes(l) ? "q6_K" : "q4_K";
        expect([types[`blk.${l}.attn_v.weight`], types[`blk.${l}.ffn_down.weight`], types[`blk.${l}.attn_q.weight`]]).toEqual([more, more, "q4_K"]);
      }
      expect([types["token_embd.weight"], types["output.weight"], types["blk.0.attn_norm.weight"]]).toEqual(["q4_K", "q6_K", "f32"]);
    } finally {
      fs.rmSync(dir, { recursive: true });
    }
  });

  it("a mix on rows that are not a multiple of 256 falls back to llama-quantize's 32-weight types, and loads", () => {
    expect(SYNTH_PRESETS.llama.tiny.nEmbd % 256).not.toBe(0);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cpu-llm-mix-"));
    try {
      const file = path.join(dir, "tiny-q4_k_m.gguf");
      writeSynth(file, "llama", "tiny", "q4_k_m");
      const gguf = readGguf(file);
      const types = Object.fromEntries(gguf.tensors.map((t) => [t.name, t.type.name]));
      // q4_K → q5_0 and q6_K → q8_0 (llama-quant.cpp's fallbacks); the output takes q8_0 for such rows.
      expect([types["blk.0.attn_q.weight"], types["blk.1.attn_v.weight"], types["token_embd.weight"], types["output.weight"]]).toEqual(["q5_0", "q8_0", "q5_0", "q8_0"]);
      expect(checkModel(gguf)).toEqual({ loadable: true, unusedTensors: [] });
    } finally {
      fs.rmSync(dir, { recursive: true });
    }
  });
});
