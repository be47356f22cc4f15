// Random-weight models of real shapes, so anyone can benchmark (and compare with llama.cpp on the same file)
// without downloading weights. Quantized tensors get random quants and small random scales directly, which is
// what a benchmark needs and ~100× faster than quantizing random floats; norms are ones. The vocabulary is a
// SentencePiece-style stand-in (byte tokens plus fillers) of the real size, which llama.cpp loads too.
import { f32ToF16, ggmlTypeByName, rowBytes } from "@cpu-llm/kernels";
import { kv, writeGgufFile, type GgufTensorSpec } from "./gguf/writeGguf.js";
import type { GgufKv } from "./gguf/values.js";
import { FILE_TYPES, mixTypes, type FileType } from "./quantMix.js";

export interface SynthShape {
  readonly name: string;
  /** `general.architecture`, and the prefix of its keys. */
  readonly arch: "llama" | "qwen2" | "baichuan" | "deepseek2";
  readonly nEmbd: number;
  readonly nLayer: number;
  readonly nHead: number;
  readonly nKvHead: number;
  readonly nFf: number;
  readonly nVocab: number;
  readonly nCtx: number;
  readonly ropeBase: number;
  readonly eps: number;
  /** Output projection shared with the token embedding (no output.weight), as Llama 3.2 1B/3B. */
  readonly tied?: boolean;
  /** Biases on the Q, K and V projections (Qwen2). */
  readonly qkvBias?: boolean;
  /** Multi-head latent attention (DeepSeek): queries straight from attn_q (no q_lora). */
  readonly mla?: { readonly kvLoraRank: number; readonly nopeDim: number; readonly ropeDim: number; readonly valueDim: number };
  /** Mixture of experts after `nLeadingDense` dense layers; softmax gating, unnormalised weights. */
  readonly moe?: { readonly nExpert: number; readonly nExpertUsed: number; readonly nExpertShared: number; readonly nFfExpert: number; readonly nLeadingDense: number };
  /** YaRN RoPE scaling: factor, original context, and `yarn_log_multiplier` (0.1 · mscale_all_dim). */
  readonly yarn?: { readonly factor: number; readonly origContext: number; readonly logMultiplier: number };
}

/** Presets by architecture, then by name: real models' shapes (from their config.json). */
export const SYNTH_PRESETS: Readonly<Record<SynthShape["arch"], Readonly<Record<string, SynthShape>>>> = {
  // DeepSeek-V2-Lite (config.json): 64 routed experts of which 6 per token, 2 shared, the first layer dense.
  deepseek2: {
    lite: {
      name: "synthetic DeepSeek-V2-Lite shape", arch: "deepseek2", nEmbd: 2048, nLayer: 27, nHead: 16, nKvHead: 1, nFf: 10944, nVocab: 102400, nCtx: 163840, ropeBase: 10000, eps: 1e-6,
      mla: { kvLoraRank: 512, nopeDim: 128, ropeDim: 64, valueDim: 128 }, moe: { nExpert: 64, nExpertUsed: 6, nExpertShared: 2, nFfExpert: 1408, nLeadingDense: 1 },
      yarn: { factor: 40, origContext: 4096, logMultiplier: 0.0707 },
    },
    tiny: {
      name: "synthetic tiny DeepSeek2", arch: "deepseek2", nEmbd: 128, nLayer: 2, nHead: 4, nKvHead: 1, nFf: 128, nVocab: 512, nCtx: 4096, ropeBase: 10000, eps: 1e-6,
      mla: { kvLoraRank: 64, nopeDim: 32, ropeDim: 32, valueDim: 32 }, moe: { nExpert: 8, nExpertUsed: 2, nExpertShared: 1, nFfExpert: 64, nLeadingDense: 1 },
      yarn: { factor: 40, origContext: 512, logMultiplier: 0.0707 },
    },
  },
  llama: {
    "1b": { name: "synthetic Llama-3.2-1B shape", arch: "llama", nEmbd: 2048, nLayer: 16, nHead: 32, nKvHead: 8, nFf: 8192, nVocab: 128256, nCtx: 131072, ropeBase: 500000, eps: 1e-5, tied: true },
    "8b": { name: "synthetic Llama-3-8B shape", arch: "llama", nEmbd: 4096, nLayer: 32, nHead: 32, nKvHead: 8, nFf: 14336, nVocab: 128256, nCtx: 8192, ropeBase: 500000, eps: 1e-5 },
    // Heads of 32: the smallest a Q8_0 KV cache takes.
    tiny: { name: "synthetic tiny Llama", arch: "llama", nEmbd: 128, nLayer: 2, nHead: 4, nKvHead: 2, nFf: 128, nVocab: 512, nCtx: 512, ropeBase: 10000, eps: 1e-5 },
    // The smallest widths K-quants take without a fallback (multiples of 256), 8 layers so every mix rule shows.
    "tiny-k": { name: "synthetic tiny Llama (K-quant widths)", arch: "llama", nEmbd: 256, nLayer: 8, nHead: 4, nKvHead: 1, nFf: 768, nVocab: 512, nCtx: 512, ropeBase: 10000, eps: 1e-5 },
  },
  qwen2: {
    "1.5b": { name: "synthetic DeepSeek-R1-Distill-Qwen-1.5B shape", arch: "qwen2", nEmbd: 1536, nLayer: 28, nHead: 12, nKvHead: 2, nFf: 8960, nVocab: 151936, nCtx: 131072, ropeBase: 10000, eps: 1e-6, qkvBias: true },
    "7b": { name: "synthetic DeepSeek-R1-Distill-Qwen-7B shape", arch: "qwen2", nEmbd: 3584, nLayer: 28, nHead: 28, nKvHead: 4, nFf: 18944, nVocab: 152064, nCtx: 131072, ropeBase: 10000, eps: 1e-6, qkvBias: true },
    tiny: { name: "synthetic tiny Qwen2", arch: "qwen2", nEmbd: 128, nLayer: 2, nHead: 4, nKvHead: 2, nFf: 128, nVocab: 512, nCtx: 512, ropeBase: 10000, eps: 1e-6, qkvBias: true, tied: true },
  },
  // llama.cpp picks Baichuan's positions by layer count: 32 → RoPE (7B), 40 → ALiBi (13B).
  baichuan: {
    "7b": { name: "synthetic Baichuan2-7B shape", arch: "baichuan", nEmbd: 4096, nLayer: 32, nHead: 32, nKvHead: 32, nFf: 11008, nVocab: 125696, nCtx: 4096, ropeBase: 10000, eps: 1e-6 },
    "13b": { name: "synthetic Baichuan2-13B shape (ALiBi)", arch: "baichuan", nEmbd: 5120, nLayer: 40, nHead: 40, nKvHead: 40, nFf: 13696, nVocab: 125696, nCtx: 4096, ropeBase: 10000, eps: 1e-6 },
    tiny: { name: "synthetic tiny Baichuan (RoPE)", arch: "baichuan", nEmbd: 128, nLayer: 32, nHead: 4, nKvHead: 4, nFf: 128, nVocab: 512, nCtx: 512, ropeBase: 10000, eps: 1e-6 },
    "tiny-alibi": { name: "synthetic tiny Baichuan (ALiBi)", arch: "baichuan", nEmbd: 128, nLayer: 40, nHead: 4, nKvHead: 4, nFf: 128, nVocab: 512, nCtx: 512, ropeBase: 10000, eps: 1e-6 },
  },
};

/** xorshift32 over a whole buffer: fast random bytes, reproducible from the seed. */
function randomBytes(n: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(Math.ceil(n / 4) * 4);
  const words = new Uint32Array(bytes.buffer);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    words[i] = s >>> 0;
  }
  return bytes.subarray(0, n);
}

function randomQuantized(type: string, rows: number, cols: number, seed: number): Uint8Array {
  const t = ggmlTypeByName(type)!;
  const bytes = randomBytes(rowBytes(t, rows * cols), seed);
  // Scales around 0.02 (K-quants' mins too), so activations stay finite through many layers.
  for (let b = 0, i = 0; b < bytes.length; b += t.typeSize, i++) {
    for (const at of t.scaleHalves ?? []) {
      const h = f32ToF16(0.01 + ((i * 2654435761) % 1000) / 50000);
      bytes[b + at] = h & 0xff;
      bytes[b + at + 1] = h >> 8;
    }
  }
  return bytes;
}

/** A preset's tensors and metadata, its matrices typed as llama-quantize types them for `fileType` (quantMix.ts). */
export function synthSpec(shape: SynthShape, fileType: FileType): { metadata: GgufKv[]; tensors: GgufTensorSpec[] } {
  const headDim = shape.nEmbd / shape.nHead;
  const kvDim = shape.nKvHead * headDim;
  let seed = 1;
  // Matrices are typed once all are listed (the mix depends on their order): `type` is set below.
  const matrix = (name: string, cols: number, rows: number): GgufTensorSpec => {
    const s = seed++;
    return { name, type: "", dims: [cols, rows], raw: () => randomQuantized(typeOf(name), rows, cols, s) };
  };
  const ones = (name: string, n: number): GgufTensorSpec => ({ name, type: "f32", dims: [n], data: () => new Float32Array(n).fill(1) });
  // Small F32 tensors (biases, the router) in [-0.05, 0.05].
  const small = (name: string, dims: number[]): GgufTensorSpec => ({
    name, type: "f32", dims, data: () => Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, (_, i) => ((i * 37) % 17) / 170 - 0.05),
  });
  const bias = (name: string, n: number) => small(name, [n]);
  const tensors: GgufTensorSpec[] = [matrix("token_embd.weight", shape.nEmbd, shape.nVocab)];
  const stacked = (name: string, cols: number, rows: number, slices: number): GgufTensorSpec => {
    const s = seed++;
    return { name, type: "", dims: [cols, rows, slices], raw: () => randomQuantized(typeOf(name), rows * slices, cols, s) };
  };
  for (let l = 0; l < shape.nLayer; l++) {
    tensors.push(ones(`blk.${l}.attn_norm.weight`, shape.nEmbd));
    if (shape.mla) {
      const { kvLoraRank, nopeDim, ropeDim, valueDim } = shape.mla;
      tensors.push(
        matrix(`blk.${l}.attn_q.weight`, shape.nEmbd, shape.nHead * (nopeDim + ropeDim)),
        matrix(`blk.${l}.attn_kv_a_mqa.weight`, shape.nEmbd, kvLoraRank + ropeDim),
        ones(`blk.${l}.attn_kv_a_norm.weight`, kvLoraRank),
        stacked(`blk.${l}.attn_k_b.weight`, nopeDim, kvLoraRank, shape.nHead),
        stacked(`blk.${l}.attn_v_b.weight`, kvLoraRank, valueDim, shape.nHead),
        matrix(`blk.${l}.attn_output.weight`, shape.nHead * valueDim, shape.nEmbd),
      );
    } else {
      tensors.push(
        matrix(`blk.${l}.attn_q.weight`, shape.nEmbd, shape.nEmbd),
        matrix(`blk.${l}.attn_k.weight`, shape.nEmbd, kvDim),
        matrix(`blk.${l}.attn_v.weight`, shape.nEmbd, kvDim),
        ...(shape.qkvBias ? [bias(`blk.${l}.attn_q.bias`, shape.nEmbd), bias(`blk.${l}.attn_k.bias`, kvDim), bias(`blk.${l}.attn_v.bias`, kvDim)] : []),
        matrix(`blk.${l}.attn_output.weight`, shape.nEmbd, shape.nEmbd),
      );
    }
    tensors.push(ones(`blk.${l}.ffn_norm.weight`, shape.nEmbd));
    if (shape.moe && l >= shape.moe.nLeadingDense) {
      const { nExpert, nExpertShared, nFfExpert } = shape.moe;
      tensors.push(
        small(`blk.${l}.ffn_gate_inp.weight`, [shape.nEmbd, nExpert]),
        stacked(`blk.${l}.ffn_gate_exps.weight`, shape.nEmbd, nFfExpert, nExpert),
        stacked(`blk.${l}.ffn_up_exps.weight`, shape.nEmbd, nFfExpert, nExpert),
        stacked(`blk.${l}.ffn_down_exps.weight`, nFfExpert, shape.nEmbd, nExpert),
        matrix(`blk.${l}.ffn_gate_shexp.weight`, shape.nEmbd, nFfExpert * nExpertShared),
        matrix(`blk.${l}.ffn_up_shexp.weight`, shape.nEmbd, nFfExpert * nExpertShared),
        matrix(`blk.${l}.ffn_down_shexp.weight`, nFfExpert * nExpertShared, shape.nEmbd),
      );
    } else {
      tensors.push(
        matrix(`blk.${l}.ffn_gate.weight`, shape.nEmbd, shape.nFf),
        matrix(`blk.${l}.ffn_up.weight`, shape.nEmbd, shape.nFf),
        matrix(`blk.${l}.ffn_down.weight`, shape.nFf, shape.nEmbd),
      );
    }
  }
  tensors.push(ones("output_norm.weight", shape.nEmbd));
  if (!shape.tied) tensors.push(matrix("output.weight", shape.nEmbd, shape.nVocab));
  const types = mixTypes(fileType, tensors, { nLayer: shape.nLayer, nGqa: shape.nHead / shape.nKvHead, tied: !!shape.tied });
  const typeOf = (name: string) => types.get(name)!;
  const unsupported = [...types].find(([, type]) => !ggmlTypeByName(type)?.matvec);
  if (unsupported) {
    throw new RangeError(`${fileType} makes '${unsupported[0]}' ${unsupported[1]}, which cpu-llm cannot compute`);
  }
  const typed = tensors.map((t) => (t.type === "" ? { ...t, type: typeOf(t.name) } : t));

  const tokens = ["<unk>", "<s>", "</s>", ...Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`)];
  while (tokens.length < shape.nVocab) tokens.push(`▁t${tokens.length.toString(36)}`);
  const tokenTypes = tokens.map((_, i) => (i === 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 1));
  const a = shape.arch;
  const metadata = [
    kv.string("general.architecture", a),
    kv.string("general.name", shape.name),
    kv.u32("general.file_type", FILE_TYPES[fileType].id),
    kv.u32(`${a}.context_length`, shape.nCtx),
    kv.u32(`${a}.embedding_length`, shape.nEmbd),
    kv.u32(`${a}.block_count`, shape.nLayer),
    kv.u32(`${a}.feed_forward_length`, shape.nFf),
    kv.u32(`${a}.attention.head_count`, shape.nHead),
    kv.u32(`${a}.attention.head_count_kv`, shape.nKvHead),
    kv.u32(`${a}.rope.dimension_count`, shape.mla?.ropeDim ?? headDim),
    kv.f32(`${a}.rope.freq_base`, shape.ropeBase),
    kv.f32(`${a}.attention.layer_norm_rms_epsilon`, shape.eps),
    kv.u32(`${a}.vocab_size`, shape.nVocab),
    ...(shape.mla ? [
      kv.u32(`${a}.attention.kv_lora_rank`, shape.mla.kvLoraRank), kv.u32(`${a}.attention.q_lora_rank`, 0),
      kv.u32(`${a}.attention.key_length`, shape.mla.kvLoraRank + shape.mla.ropeDim), kv.u32(`${a}.attention.value_length`, shape.mla.kvLoraRank),
      kv.u32(`${a}.attention.key_length_mla`, shape.mla.nopeDim + shape.mla.ropeDim), kv.u32(`${a}.attention.value_length_mla`, shape.mla.valueDim),
    ] : []),
    ...(shape.moe ? [
      kv.u32(`${a}.expert_count`, shape.moe.nExpert), kv.u32(`${a}.expert_used_count`, shape.moe.nExpertUsed),
      kv.u32(`${a}.expert_shared_count`, shape.moe.nExpertShared), kv.u32(`${a}.expert_feed_forward_length`, shape.moe.nFfExpert),
      kv.u32(`${a}.leading_dense_block_count`, shape.moe.nLeadingDense), kv.u32(`${a}.expert_gating_func`, 1), kv.f32(`${a}.expert_weights_scale`, 1),
    ] : []),
    ...(shape.yarn ? [
      kv.string(`${a}.rope.scaling.type`, "yarn"), kv.f32(`${a}.rope.scaling.factor`, shape.yarn.factor),
      kv.u32(`${a}.rope.scaling.original_context_length`, shape.yarn.origContext), kv.f32(`${a}.rope.scaling.yarn_log_multiplier`, shape.yarn.logMultiplier),
    ] : []),
    kv.string("tokenizer.ggml.model", "llama"),
    kv.string("tokenizer.ggml.pre", "default"),
    kv.strings("tokenizer.ggml.tokens", tokens),
    kv.f32s("tokenizer.ggml.scores", tokens.map((_, i) => -i)),
    kv.i32s("tokenizer.ggml.token_type", tokenTypes),
    kv.u32("tokenizer.ggml.bos_token_id", 1),
    kv.u32("tokenizer.ggml.eos_token_id", 2),
    kv.u32("tokenizer.ggml.unknown_token_id", 0),
  ];
  return { metadata, tensors: typed };
}

/** Writes a preset's model; an Error naming the known architectures or presets otherwise. */
export function writeSynth(path: string, arch: string, preset: string, type: FileType): SynthShape {
  const presets = Object.hasOwn(SYNTH_PRESETS, arch) ? SYNTH_PRESETS[arch as SynthShape["arch"]] : undefined;
  if (!presets) throw new Error(`unknown architecture '${arch}' (synth writes ${Object.keys(SYNTH_PRESETS).join(", ")})`);
  if (!Object.hasOwn(presets, preset)) throw new Error(`unknown ${arch} preset '${preset}' (presets: ${Object.keys(presets).join(", ")})`);
  writeGgufFile(path, synthSpec(presets[preset], type));
  return presets[preset];
}
