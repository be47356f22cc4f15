// Llama (Llama 2 and 3, TinyLlama, DeepSeek-R1-Distill-Llama): llama.cpp src/models/llama.cpp. Each layer is
// RMS-normed self-attention with RoPE in the NORM layout (neighbouring pairs), then a SwiGLU feed-forward.
import { defineArchitecture } from "./architecture.js";
import { loadFeedForward, swigluFeedForward } from "./blocks/feedForward.js";
import { loadSelfAttention, selfAttention } from "./blocks/selfAttention.js";

export const llama = defineArchitecture({
  name: "llama",
  tiedOutput: true,
  loadLayer: (w, il) => ({ attention: loadSelfAttention(w, il, { biases: false }), ffn: loadFeedForward(w, il) }),
  forwardLayer(p, layer, il) {
    selfAttention(p, layer.attention, il, "norm");
    swigluFeedForward(p, layer.ffn);
  },
});
