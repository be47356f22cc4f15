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
  // Multi-head latent attention (DeepSeek V2/V3).
  attn_q_a: "blk.%d.attn_q_a.weight",
  attn_q_a_norm: "blk.%d.attn_q_a_norm.weight",
  attn_q_b: "blk.%d.attn_q_b.weight",
  attn_kv_a_mqa: "blk.%d.attn_kv_a_mqa.weight",
  attn_kv_a_norm: "blk.%d.attn_kv_a_norm.weight",
  attn_k_b: "blk.%d.attn_k_b.weight",
  attn_v_b: "blk.%d.attn_v_b.weight",
  attn_kv_b: "blk.%d.attn_kv_b.weight",
  // Mixture of experts: the router, stacked experts (one 3-D tensor each), shared experts.
  ffn_gate_inp: "blk.%d.ffn_gate_inp.weight",
  exp_probs_b: "blk.%d.exp_probs_b.bias",
  ffn_gate_exps: "blk.%d.ffn_gate_exps.weight",
  ffn_up_exps: "blk.%d.ffn_up_exps.weight",
  ffn_down_exps: "blk.%d.ffn_down_exps.weight",
  ffn_gate_shexp: "blk.%d.ffn_gate_shexp.weight",
  ffn_up_shexp: "blk.%d.ffn_up_shexp.weight",
  ffn_down_shexp: "blk.%d.ffn_down_shexp.weight",
} as const;

/** `blk.%d.attn_q.weight` for block 3 → `blk.3.attn_q.weight`. */
export const blockTensor = (pattern: string, il: number) => pattern.replace("%d", String(il));
