// Multi-head self-attention with grouped KV heads, the block of Llama-family layers (llama.cpp build_qkv +
// build_attn): normalise, project to Q, K and V (with biases where the model has them), place positions
// (RoPE on Q and K, or ALiBi inside the attention's softmax), append K and V to the cache and attend causally
// within each row's sequence, project back, add to the residual stream.
import type { ShardedMatrix } from "@cpu-llm/kernels";
import type { Pass } from "../pass.js";
import { blockTensor, TENSOR } from "../tensorNames.js";
import type { Weights } from "../weights.js";
import { rmsNorm } from "./norm.js";
import { project } from "./projection.js";
import { rope, type RopeMode } from "./rope.js";

export interface SelfAttentionWeights {
  readonly attn_norm: number; // (nEmbd) f32, main arena
  readonly attn_q: ShardedMatrix; // (nHead * headDim, nEmbd)
  readonly attn_k: ShardedMatrix; // (nKvHead * headDim, nEmbd)
  readonly attn_v: ShardedMatrix; // (nKvHead * headDim, nEmbd)
  readonly attn_output: ShardedMatrix; // (nEmbd, nHead * headDim)
  readonly attn_q_bias?: number; // (nHead * headDim) f32
  readonly attn_k_bias?: number; // (nKvHead * headDim) f32
  readonly attn_v_bias?: number;
}

/** Layer il's attention tensors; `biases` requires the Q/K/V biases (Qwen2), else there are none. */
export function loadSelfAttention(w: Weights, il: number, options: { readonly biases: boolean }): SelfAttentionWeights {
  const { nEmbd, nHead, nKvHead, headDim } = w.hp;
  const [qDim, kvDim] = [nHead * headDim, nKvHead * headDim];
  const name = (pattern: string) => blockTensor(pattern, il);
  const biases = options.biases && {
    attn_q_bias: w.vector(name(TENSOR.attn_q_bias), qDim),
    attn_k_bias: w.vector(name(TENSOR.attn_k_bias), kvDim),
    attn_v_bias: w.vector(name(TENSOR.attn_v_bias), kvDim),
  };
  return {
    attn_norm: w.vector(name(TENSOR.attn_norm), nEmbd),
    attn_q: w.matrix(name(TENSOR.attn_q), { rows: qDim, cols: nEmbd }),
    attn_k: w.matrix(name(TENSOR.attn_k), { rows: kvDim, cols: nEmbd }),
    attn_v: w.matrix(name(TENSOR.attn_v), { rows: kvDim, cols: nEmbd }),
    attn_output: w.matrix(name(TENSOR.attn_output), { rows: nEmbd, cols: qDim }),
    ...biases,
  };
}

/** x += attention of layer il over every row; positions by RoPE of this mode, or "alibi" (the cache's slopes). */
export function selfAttention(p: Pass, t: SelfAttentionWeights, il: number, positions: RopeMode | "alibi"): void {
  const { nHead, nKvHead, headDim, nEmbd } = p.hp;
  const { x, xb, xb2, q, k, v, att } = p.buf;
  const [qDim, kvDim] = [nHead * headDim, nKvHead * headDim];
  rmsNorm(p, xb, x, t.attn_norm);
  project(p, t.attn_q, xb, q, t.attn_q_bias); // (n, nHead * headDim)
  project(p, t.attn_k, xb, k, t.attn_k_bias); // (n, nKvHead * headDim)
  project(p, t.attn_v, xb, v, t.attn_v_bias);
  if (positions !== "alibi") {
    rope(p, q, nHead, positions);
    rope(p, k, nKvHead, positions);
  }
  p.cache.attend(il, p.rows, p.view(q, qDim), p.view(k, kvDim), p.view(v, kvDim), p.view(att, qDim));
  project(p, t.attn_output, att, xb2); // (n, nEmbd)
  p.add(x, xb2, nEmbd);
}
