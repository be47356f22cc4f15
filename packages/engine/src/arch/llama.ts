// Llama (Llama 2 and 3, TinyLlama, DeepSeek-R1-Distill-Llama): llama.cpp src/models/llama.cpp. Its layer,
// which Qwen2 and Baichuan reuse with their own options: RMS-normed self-attention, then a SwiGLU
// feed-forward, each added to the residual stream.
import { defineArchitecture } from "./architecture.js";
import { loadFeedForward, swigluFeedForward, type FeedForwardWeights } from "./blocks/feedForward.js";
import type { RopeMode } from "./blocks/rope.js";
import { loadSelfAttention, selfAttention, type SelfAttentionWeights } from "./blocks/selfAttention.js";
import type { Pass } from "./pass.js";
import type { Weights } from "./weights.js";

export interface LlamaLayer {
  readonly attention: SelfAttentionWeights;
  readonly ffn: FeedForwardWeights;
}

/** Layer il's tensors; `biases`: the Q/K/V projections have biases (Qwen2). */
export function loadLlamaLayer(w: Weights, il: number, options: { readonly biases: boolean }): LlamaLayer {
  return { attention: loadSelfAttention(w, il, options), ffn: loadFeedForward(w, il) };
}

/** Layer il over the pass's rows, positions by RoPE in this layout or by ALiBi. */
export function llamaLayer(p: Pass, layer: LlamaLayer, il: number, positions: RopeMode | "alibi"): void {
  selfAttention(p, layer.attention, il, positions);
  swigluFeedForward(p, layer.ffn);
}

// RoPE in the NORM layout (neighbouring pairs); the output projection tied to the embedding when absent.
export const llama = defineArchitecture({
  name: "llama", tiedOutput: true, loadLayer: (w, il) => loadLlamaLayer(w, il, { biases: false }), forwardLayer: (p, layer, il) => llamaLayer(p, layer, il, "norm"),
});
