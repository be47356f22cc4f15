// Baichuan and Baichuan2: llama.cpp src/models/baichuan.cpp. Llama's layer, but which positional scheme a
// file gets depends on its size, and GGUF has no key for it: llama.cpp keys on the layer count (load_arch_
// hparams: 32 layers → LLM_TYPE_7B, RoPE in the NORM layout; 40 → LLM_TYPE_13B, no RoPE, ALiBi with
// f_max_alibi_bias = 8 added to the attention scores). We follow that rule; any other layer count is refused
// (llama.cpp would run it with no positions at all). The output projection is always its own tensor.
import { ModelFormatError } from "../errors.js";
import { defineArchitecture } from "./architecture.js";
import { loadFeedForward, swigluFeedForward } from "./blocks/feedForward.js";
import { loadSelfAttention, selfAttention } from "./blocks/selfAttention.js";

/** ALiBi's maximum bias for the 13B shape (llama.cpp hard-codes it: "TODO: become GGUF KV parameter"). */
const BAICHUAN_13B_ALIBI_BIAS = 8;

export const baichuan = defineArchitecture({
  name: "baichuan",
  hparams(hp, file) {
    if (hp.nLayer === 32) return hp;
    if (hp.nLayer === 40) return { ...hp, maxAlibiBias: BAICHUAN_13B_ALIBI_BIAS };
    throw new ModelFormatError(file.path, "baichuan.block_count", `is ${hp.nLayer}: Baichuan files have 32 layers (7B, RoPE) or 40 (13B, ALiBi), and no key says which positions others use`);
  },
  tiedOutput: false,
  loadLayer: (w, il) => ({ attention: loadSelfAttention(w, il, { biases: false }), ffn: loadFeedForward(w, il) }),
  forwardLayer(p, layer, il) {
    selfAttention(p, layer.attention, il, p.hp.maxAlibiBias ? "alibi" : "norm");
    swigluFeedForward(p, layer.ffn);
  },
});
