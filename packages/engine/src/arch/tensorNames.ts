// Tensor names, spelled as in GGUF (gguf-py constants.py TENSOR_NAMES, llama.cpp llama-arch.cpp
// LLM_TENSOR_NAMES) so a name found here greps across projects; `%d` is the block (layer) number.
export const TENSOR = {
  token_embd: "token_embd.weight",
  output_norm: "output_norm.weight",
  output: "output.weight",
  rope_freqs: "rope_freqs.weight",
  attn_norm: "blk.%d.attn_norm.weight",
  attn_q: "blk.%d.attn_q.weight",
  attn_q_bias: "blk.%d.attn_q.bias",
  attn_k: "blk.%d.attn_k.weight",
  attn_k_bias: "blk.%d.attn_k.bias",
  attn_v: "blk.%d.attn_v.weight",
  attn_v_bias: "blk.%d.attn_v.bias",
  attn_output: "blk.%d.attn_output.weight",
  ffn_norm: "blk.%d.ffn_norm.weight",
  ffn_gate: "blk.%d.ffn_gate.weight",
  ffn_up: "blk.%d.ffn_up.weight",
  ffn_down: "blk.%d.ffn_down.weight",
} as const;

/** `blk.%d.attn_q.weight` for block 3 → `blk.3.attn_q.weight`. */
export const blockTensor = (pattern: string, il: number) => pattern.replace("%d", String(il));
