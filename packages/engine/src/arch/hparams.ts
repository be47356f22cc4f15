// The hyper-parameters every decoder-only architecture here reads from `{arch}.*` keys (spelled as in GGUF,
// gguf-py constants.py), with llama.cpp's defaults where a key is optional (llama-model.cpp load_hparams).
import type { RopeParams } from "@cpu-llm/kernels";
import { ModelFormatError } from "../errors.js";
import { metaNumber, metaString } from "../gguf/metadata.js";
import type { GgufFile } from "../gguf/readGguf.js";

export interface Hparams {
  /** `general.architecture`: the prefix of every key below. */
  readonly arch: string;
  readonly nEmbd: number;
  readonly nLayer: number;
  readonly nHead: number;
  readonly nKvHead: number;
  readonly headDim: number;
  readonly nFf: number;
  readonly nVocab: number;
  readonly nCtxTrain: number;
  /** RMS norm epsilon. */
  readonly eps: number;
  readonly rope: RopeParams;
  /** ALiBi's maximum bias (Baichuan 13B: 8); 0 for models that take positions from RoPE. */
  readonly maxAlibiBias: number;
  /** Values per KV head in the cache, when not headDim (MLA: the latent's width). */
  readonly valueDim?: number;
  /** The cache's values are the first valueDim elements of each key (MLA). */
  readonly valuesInKeys?: boolean;
  /** Scale of the attention scores, when not 1/sqrt(headDim) (DeepSeek's YaRN-corrected one). */
  readonly attentionScale?: number;
  /** Multi-head latent attention (DeepSeek V2/V3). */
  readonly mla?: MlaHparams;
  /** Mixture-of-experts feed-forward. */
  readonly moe?: MoeHparams;
}

/** MLA's shapes (llama.cpp's n_lora_q, n_lora_kv, n_embd_head_k_mla, n_embd_head_v_mla, n_rot). */
export interface MlaHparams {
  /** `attention.q_lora_rank`: queries through a rank-r bottleneck (attn_q_a, attn_q_b); 0 for a plain attn_q. */
  readonly qLoraRank: number;
  /** `attention.kv_lora_rank`: the compressed KV (latent) every key and value is made from. */
  readonly kvLoraRank: number;
  /** Per-head query/key dimensions without RoPE, and with it (`rope.dimension_count`). */
  readonly nopeDim: number;
  readonly ropeDim: number;
  /** Per-head value dimension after attn_v_b (`attention.value_length_mla`). */
  readonly valueDim: number;
}

/** The expert feed-forward (llama.cpp build_moe_ffn's parameters). */
export interface MoeHparams {
  readonly nExpert: number;
  readonly nExpertUsed: number;
  readonly nExpertShared: number;
  /** Hidden width of one expert (`expert_feed_forward_length`). */
  readonly nFfExpert: number;
  /** Layers before the first MoE layer that have a dense feed-forward (`leading_dense_block_count`). */
  readonly nLeadingDense: number;
  readonly gating: "softmax" | "sigmoid";
  /** Divide the chosen experts' weights by their sum (`expert_weights_norm`). */
  readonly normalizeWeights: boolean;
  /** Multiply them by this (`expert_weights_scale`). */
  readonly weightsScale: number;
  /** Group-limited routing (`expert_group_count`, `expert_group_used_count`): experts only from the best groups. */
  readonly groups: number;
  readonly groupsUsed: number;
}

const fround = Math.fround;

/**
 * YaRN's magnitude factor for RoPE (llama-context.cpp): transformers' get_mscale(factor, mscale) over
 * get_mscale(factor, mscaleAllDims) when the file gives a log multiplier (mscaleAllDims), else
 * get_mscale(factor, 1); then divided by 1 + 0.1·ln(factor), which ggml's rope_yarn multiplies back.
 */
export function yarnAttnFactor(factor: number, mscale: number, mscaleAllDims: number): number {
  const get = (scale: number, m: number) => (scale <= 1 ? 1 : fround(fround(fround(fround(0.1) * fround(m)) * fround(Math.log(scale))) + 1));
  const f = mscaleAllDims !== 0 ? fround(get(factor, mscale) / get(factor, mscaleAllDims)) : get(factor, 1);
  return fround(f * fround(1 / fround(1 + fround(fround(0.1) * fround(Math.log(factor))))));
}

/** A key of the file's architecture, or undefined. */
export function archNumber(file: GgufFile, key: string): number | undefined {
  return metaNumber(file, `${metaString(file, "general.architecture")}.${key}`);
}

/** The common hyper-parameters; a ModelFormatError naming the key when a required one is missing or impossible. */
export function readHparams(file: GgufFile): Hparams {
  const arch = metaString(file, "general.architecture") ?? "llama";
  const path = file.path ?? "GGUF";
  const need = (key: string) => {
    const v = archNumber(file, key);
    if (v === undefined) throw new ModelFormatError(path, `${arch}.${key}`, "is missing");
    if (!(Number.isInteger(v) && v > 0)) throw new ModelFormatError(path, `${arch}.${key}`, `must be a positive integer, got ${v}`);
    return v;
  };
  const opt = (key: string) => archNumber(file, key);
  const nEmbd = need("embedding_length");
  const nHead = need("attention.head_count");
  const nKvHead = opt("attention.head_count_kv") ?? nHead;
  if (nHead % nKvHead !== 0) throw new ModelFormatError(path, `${arch}.attention.head_count_kv`, `(${nKvHead}) must divide attention.head_count (${nHead})`);
  const headDim = opt("attention.key_length") ?? nEmbd / nHead;
  const embd = file.tensors.find((t) => t.name === "token_embd.weight");
  const scaling = metaString(file, `${arch}.rope.scaling.type`);
  const factor = opt("rope.scaling.factor");
  const freqScale = (scaling === "linear" || scaling === "yarn") && factor ? fround(1 / fround(factor)) : 1;
  const nCtxTrain = opt("context_length") ?? 2048;
  return {
    arch,
    nEmbd,
    nLayer: need("block_count"),
    nHead,
    nKvHead,
    headDim,
    nFf: need("feed_forward_length"),
    nVocab: opt("vocab_size") ?? embd?.dims[1] ?? 0,
    nCtxTrain,
    eps: opt("attention.layer_norm_rms_epsilon") ?? 1e-5,
    rope: {
      nDims: opt("rope.dimension_count") ?? headDim,
      freqBase: opt("rope.freq_base") ?? 10000,
      freqScale,
      yarn: scaling === "yarn" ? {
        extFactor: 1,
        attnFactor: yarnAttnFactor(1 / freqScale, 1, opt("rope.scaling.yarn_log_multiplier") ?? 0),
        origContext: opt("rope.scaling.original_context_length") ?? nCtxTrain,
        betaFast: opt("rope.scaling.yarn_beta_fast") ?? 32,
        betaSlow: opt("rope.scaling.yarn_beta_slow") ?? 1,
      } : undefined,
    },
    maxAlibiBias: 0,
  };
}
