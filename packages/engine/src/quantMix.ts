// Which ggml type each tensor of a model gets in llama-quantize's file types ("Q4_K_M" and so on), after
// llama_tensor_get_type in llama.cpp's src/llama-quant.cpp (upstream 34af94cd), for the dense and MoE models
// cpu-llm runs (not Falcon, no 70B or 8-expert special cases, no imatrix, no overrides). `cpu-llm synth` writes
// such mixes so benchmarks meet the shapes and bytes of the files users download; the K-quant fixtures' own
// tensor types check the rules (quantMix.test.ts).

/** llama-quantize's file types that cpu-llm writes: `general.file_type` (llama_ftype) and the default weight type. */
export const FILE_TYPES = {
  q4_0: { id: 2, weights: "q4_0", pure: true },
  q4_1: { id: 3, weights: "q4_1", pure: true },
  q8_0: { id: 7, weights: "q8_0", pure: true },
  q5_0: { id: 8, weights: "q5_0", pure: true },
  q5_1: { id: 9, weights: "q5_1", pure: true },
  q2_k: { id: 10, weights: "q2_K" },
  q3_k_m: { id: 12, weights: "q3_K" },
  q4_k_m: { id: 15, weights: "q4_K" },
  q5_k_m: { id: 17, weights: "q5_K" },
  q6_k: { id: 18, weights: "q6_K" },
} as const;
export type FileType = keyof typeof FILE_TYPES;

export function isFileType(name: string): name is FileType {
  return Object.hasOwn(FILE_TYPES, name);
}

export interface MixModel {
  readonly nLayer: number;
  /** Query heads per KV head (llama.cpp's n_gqa). */
  readonly nGqa: number;
  /** token_embd.weight doubles as the output projection. */
  readonly tied: boolean;
}

/** llama-quant.cpp's use_more_bits: the first and last eighth of the layers, and every third between. */
const useMoreBits = (i: number, n: number) => i < Math.floor(n / 8) || i >= Math.floor((7 * n) / 8) || (i - Math.floor(n / 8)) % 3 === 2;

/** Where llama.cpp's tensor_get_category puts a tensor, by name (substring tests, in its order). */
function category(name: string): "output" | "token_embd" | "attn_v" | "attn_output" | "ffn_down" | "other" {
  if (name === "output.weight") return "output";
  if (name === "token_embd.weight") return "token_embd";
  // attn_qkv and attn_kv_b take the attn_v rules (category_is_attn_v).
  if (["attn_qkv.weight", "attn_kv_b.weight", "attn_v.weight"].some((s) => name.includes(s))) return "attn_v";
  if (name.includes("attn_output.weight")) return "attn_output";
  if (name.includes("ffn_down")) return "ffn_down";
  return "other";
}

/** A 256-block type for a row that is not a multiple of 256 falls back to a 32-block one (llama-quant.cpp). */
const FALLBACK: Readonly<Record<string, string>> = { q2_K: "q4_0", q3_K: "q4_0", q4_K: "q5_0", q5_K: "q5_1", q6_K: "q8_0" };

/**
 * The type of every matrix (2 or more dims; vectors stay f32) of a model written as `fileType`, in the order
 * given (llama.cpp counts the attn_v-like tensors in file order). The 32-weight types are written pure: every
 * matrix the one type (llama-quantize --pure), as cpu-llm's synthetic files always were.
 */
export function mixTypes(fileType: FileType, tensors: readonly { readonly name: string; readonly dims: readonly number[] }[], model: MixModel): Map<string, string> {
  const base = FILE_TYPES[fileType].weights;
  const matrices = tensors.filter((t) => t.dims.length >= 2);
  if ("pure" in FILE_TYPES[fileType]) return new Map(matrices.map((t) => [t.name, base]));
  const nAttentionV = matrices.filter((t) => category(t.name) === "attn_v").length;
  let iAttentionV = 0;
  const types = new Map<string, string>();
  for (const t of matrices) {
    let type: string = base;
    const c = category(t.name);
    const layer = Number(/^blk\.(\d+)\./.exec(t.name)?.[1] ?? 0);
    if (c === "output" || (model.tied && c === "token_embd")) {
      type = t.dims[0] % 256 !== 0 ? "q8_0" : "q6_K";
    } else if (c === "attn_v") {
      if (fileType === "q2_k") type = model.nGqa >= 4 ? "q4_K" : "q3_K";
      else if (fileType === "q3_k_m") type = iAttentionV < 2 ? "q5_K" : "q4_K";
      else if ((fileType === "q4_k_m" || fileType === "q5_k_m") && useMoreBits(iAttentionV, nAttentionV)) type = "q6_K";
      iAttentionV++;
    } else if (c === "ffn_down") {
      if (fileType === "q2_k") type = "q3_K";
      else if (fileType === "q3_k_m") type = layer < Math.floor(model.nLayer / 16) ? "q5_K" : "q4_K";
      else if ((fileType === "q4_k_m" || fileType === "q5_k_m") && useMoreBits(layer, model.nLayer)) type = "q6_K";
    } else if (c === "attn_output") {
      if (fileType === "q2_k") type = "q3_K";
      else if (fileType === "q3_k_m") type = "q4_K";
    }
    if (t.dims[0] % 256 !== 0 && FALLBACK[type]) type = FALLBACK[type];
    types.set(t.name, type);
  }
  return types;
}
