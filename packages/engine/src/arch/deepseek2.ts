// DeepSeek V2, V2-Lite, V3 and R1 (GGUF architecture `deepseek2`): llama.cpp src/models/deepseek2.cpp. Each
// layer is multi-head latent attention (blocks/latentAttention.ts: the cache holds one latent and one RoPE key
// per token) and a feed-forward that is dense in the first `leading_dense_block_count` layers and a mixture of
// routed and shared experts after (blocks/moeFeedForward.ts). RoPE is YaRN-scaled, NORM layout.
import { ModelFormatError } from "../errors.js";
import { metaBool } from "../gguf/metadata.js";
import { defineArchitecture } from "./architecture.js";
import { loadFeedForward, swigluFeedForward, type FeedForwardWeights } from "./blocks/feedForward.js";
import { latentAttention, latentAttentionScratch, loadLatentAttention, type LatentAttentionScratch, type LatentAttentionWeights } from "./blocks/latentAttention.js";
import { loadMoe, moeFeedForward, moeScratch, type MoeScratch, type MoeWeights } from "./blocks/moeFeedForward.js";
import { archNumber, yarnAttnFactor, type Hparams, type MlaHparams, type MoeHparams } from "./hparams.js";

const fround = Math.fround;

/** llama.cpp's LLAMA_EXPERT_GATING_FUNC_TYPE values; files without the key gate by softmax. */
const GATING: Record<number, MoeHparams["gating"]> = { 1: "softmax", 2: "sigmoid" };

interface Deepseek2Layer {
  readonly attention: LatentAttentionWeights;
  readonly ffn: { readonly dense: FeedForwardWeights } | { readonly moe: MoeWeights };
}

interface Deepseek2Scratch {
  readonly mla: LatentAttentionScratch;
  readonly moe: MoeScratch;
}

const mlaOf = (hp: Hparams) => hp.mla!;
const moeOf = (hp: Hparams) => hp.moe!;

export const deepseek2 = defineArchitecture<Deepseek2Layer, Deepseek2Scratch>({
  name: "deepseek2",
  hparams(hp, file) {
    const need = (key: string) => {
      const v = archNumber(file, key);
      if (v === undefined) throw new ModelFormatError(file.path, `deepseek2.${key}`, "is missing");
      return v;
    };
    const opt = (key: string, fallback: number) => archNumber(file, key) ?? fallback;
    const ropeDim = hp.rope.nDims;
    const kvLoraRank = need("attention.kv_lora_rank");
    const keyLength = opt("attention.key_length_mla", opt("attention.key_length", 0));
    const gating = GATING[opt("expert_gating_func", 1)];
    if (!gating) throw new ModelFormatError(file.path, "deepseek2.expert_gating_func", `is ${archNumber(file, "expert_gating_func")}: only 1 (softmax) and 2 (sigmoid) are DeepSeek's`);
    const mla: MlaHparams = {
      qLoraRank: opt("attention.q_lora_rank", 0), kvLoraRank, nopeDim: keyLength - ropeDim, ropeDim,
      valueDim: opt("attention.value_length_mla", opt("attention.value_length", 0)),
    };
    if (!(mla.nopeDim > 0 && mla.valueDim > 0)) throw new ModelFormatError(file.path, "deepseek2.attention.key_length_mla", `(${keyLength}) must exceed rope.dimension_count (${ropeDim})`);
    const moe: MoeHparams = {
      nExpert: need("expert_count"), nExpertUsed: need("expert_used_count"), nExpertShared: opt("expert_shared_count", 0),
      nFfExpert: need("expert_feed_forward_length"), nLeadingDense: opt("leading_dense_block_count", 0), gating,
      normalizeWeights: metaBool(file, "deepseek2.expert_weights_norm") ?? false, weightsScale: opt("expert_weights_scale", 0),
      groups: Math.max(1, opt("expert_group_count", 1)), groupsUsed: Math.max(1, opt("expert_group_used_count", 1)),
    };
    // YaRN as llama.cpp runs DeepSeek (llama-context.cpp, deepseek2.cpp [TAG_DEEPSEEK2_YARN_LOG_MUL_FIX]): the
    // file's log multiplier is 0.1·mscale_all_dim, which is also DeepSeek's mscale; attention scores are scaled
    // by mscale² / sqrt(key length) to make up for what YaRN takes from the RoPE magnitude.
    const yarn = hp.rope.yarn;
    const logMul = fround(opt("rope.scaling.yarn_log_multiplier", 0) / fround(0.1));
    const freqScale = hp.rope.freqScale ?? 1;
    const ln = fround(Math.log(fround(1 / freqScale)));
    const attnFactor = yarn ? yarnAttnFactor(1 / freqScale, logMul, logMul) : 1;
    const original = fround(attnFactor * fround(1 + fround(fround(0.1) * ln)));
    const mscale = yarn ? fround(original * fround(1 + fround(fround(fround(0.1) * logMul) * ln))) : 1;
    return {
      ...hp,
      rope: { ...hp.rope, yarn: yarn && { ...yarn, attnFactor } },
      // The cache: one KV head of [latent, RoPE key]; the latent is also the value.
      nKvHead: 1, headDim: kvLoraRank + ropeDim, valueDim: kvLoraRank, valuesInKeys: true,
      attentionScale: fround(fround(mscale * mscale) / fround(Math.sqrt(keyLength))),
      mla, moe,
    };
  },
  tiedOutput: true,
  loadLayer: (w, il) => ({
    attention: loadLatentAttention(w, il, mlaOf(w.hp)),
    ffn: il < moeOf(w.hp).nLeadingDense ? { dense: loadFeedForward(w, il) } : { moe: loadMoe(w, il, moeOf(w.hp)) },
  }),
  scratch: (w, maxBatch) => ({ mla: latentAttentionScratch(w, maxBatch, mlaOf(w.hp)), moe: moeScratch(w, maxBatch, moeOf(w.hp)) }),
  forwardLayer(p, layer, il, scratch) {
    latentAttention(p, layer.attention, il, mlaOf(p.hp), scratch.mla);
    if ("dense" in layer.ffn) swigluFeedForward(p, layer.ffn.dense);
    else moeFeedForward(p, layer.ffn.moe, moeOf(p.hp), scratch.moe);
  },
});
