// Baichuan and Baichuan2: llama.cpp src/models/baichuan.cpp. Llama's layer, but which positions a file gets
// depends on its size, and GGUF has no key for it: llama.cpp keys on the layer count (load_arch_hparams: 32
// layers → LLM_TYPE_7B, RoPE in the NORM layout; 40 → LLM_TYPE_13B, no RoPE, ALiBi with f_max_alibi_bias = 8
// added to the attention scores). We follow that rule and refuse any other layer count, which llama.cpp would
// run with no positions at all. The output projection is always a tensor of its own.
import { ModelFormatError } from "../errors.js";
import { defineArchitecture } from "./architecture.js";
import { llamaLayer, loadLlamaLayer } from "./llama.js";

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
  loadLayer: (w, il) => loadLlamaLayer(w, il, { biases: false }),
  forwardLayer: (p, layer, il) => llamaLayer(p, layer, il, p.hp.maxAlibiBias ? "alibi" : "norm"),
});
