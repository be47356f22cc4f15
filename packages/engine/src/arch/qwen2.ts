// Qwen2 (Qwen2, Qwen2.5, DeepSeek-R1-Distill-Qwen): llama.cpp src/models/qwen2.cpp. Llama's layer with
// biases on the Q, K and V projections and RoPE in the NEOX layout (dimension i pairs with i + headDim/2);
// small models tie the output projection to the token embedding (no output.weight).
import { defineArchitecture } from "./architecture.js";
import { loadFeedForward, swigluFeedForward } from "./blocks/feedForward.js";
import { loadSelfAttention, selfAttention } from "./blocks/selfAttention.js";

export const qwen2 = defineArchitecture({
  name: "qwen2",
  tiedOutput: true,
  loadLayer: (w, il) => ({ attention: loadSelfAttention(w, il, { biases: true }), ffn: loadFeedForward(w, il) }),
  forwardLayer(p, layer, il) {
    selfAttention(p, layer.attention, il, "neox");
    swigluFeedForward(p, layer.ffn);
  },
});
