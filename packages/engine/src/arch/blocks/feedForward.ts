// The dense SwiGLU feed-forward block (llama.cpp build_ffn with LLM_FFN_SILU, LLM_FFN_PAR): normalise,
// down(silu(gate · h) ⊙ (up · h)), add to the residual stream.
import type { ShardedMatrix } from "@cpu-llm/kernels";
import type { Pass } from "../pass.js";
import { blockTensor, TENSOR } from "../tensorNames.js";
import type { Weights } from "../weights.js";
import { rmsNorm } from "./norm.js";
import { project } from "./projection.js";

export interface FeedForwardWeights {
  readonly ffn_norm: number; // (nEmbd) f32, main arena
  readonly ffn_gate: ShardedMatrix; // (nFf, nEmbd)
  readonly ffn_up: ShardedMatrix; // (nFf, nEmbd)
  readonly ffn_down: ShardedMatrix; // (nEmbd, nFf)
}

export function loadFeedForward(w: Weights, il: number): FeedForwardWeights {
  const { nEmbd, nFf } = w.hp;
  const name = (pattern: string) => blockTensor(pattern, il);
  return {
    ffn_norm: w.vector(name(TENSOR.ffn_norm), nEmbd),
    ffn_gate: w.matrix(name(TENSOR.ffn_gate), { rows: nFf, cols: nEmbd }),
    ffn_up: w.matrix(name(TENSOR.ffn_up), { rows: nFf, cols: nEmbd }),
    ffn_down: w.matrix(name(TENSOR.ffn_down), { rows: nEmbd, cols: nFf }),
  };
}

/** x += SwiGLU feed-forward of every row. */
export function swigluFeedForward(p: Pass, t: FeedForwardWeights): void {
  const { nEmbd, nFf } = p.hp;
  const { x, xb, xb2, hb, hb2 } = p.buf;
  rmsNorm(p, xb, x, t.ffn_norm);
  project(p, t.ffn_gate, xb, hb); // (n, nFf)
  project(p, t.ffn_up, xb, hb2);
  for (let i = 0; i < p.n; i++) p.k.swiglu(hb.at + i * nFf * 4, hb.at + i * nFf * 4, hb2.at + i * nFf * 4, nFf);
  project(p, t.ffn_down, hb, xb2); // (n, nEmbd)
  p.add(x, xb2, nEmbd);
}
