// Qwen2 (Qwen2, Qwen2.5, DeepSeek-R1-Distill-Qwen): llama.cpp src/models/qwen2.cpp. Llama's layer with
// biases on the Q, K and V projections and RoPE in the NEOX layout (dimension i pairs with i + nDims/2);
// small models tie the output projection to the token embedding (no output.weight).
import { defineArchitecture } from "./architecture.js";
import { llamaLayer, loadLlamaLayer } from "./llama.js";

export const qwen2 = defineArchitecture({
  name: "qwen2", tiedOutput: true, loadLayer: (w, il) => loadLlamaLayer(w, il, { biases: true }), forwardLayer: (p, layer, il) => llamaLayer(p, layer, il, "neox"),
});
