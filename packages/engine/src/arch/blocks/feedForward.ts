// The dense SwiGLU feed-forward block (llama.cpp build_ffn with LLM_FFN_SILU, LLM_FFN_PAR): normalise,
// down(silu(gate · h) ⊙ (up · h)), add to the residual stream.
import type { ShardedMatrix } from "@cpu-llm/kernels";
import type { Pass } from "../pass.js";
import { blockTensor, TENSOR } from "../tensorNames.js";
import type { Vector, Weights } from "../weights.js";
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
  const { x, xb, xb2 } = p.buf;
  rmsNorm(p, xb, x, t.ffn_norm);
  swiglu(p, { gate: t.ffn_gate, up: t.ffn_up, down: t.ffn_down }, xb, xb2);
  p.add(x, xb2, p.hp.nEmbd);
}

/**
 * out (n, nEmbd) = down(silu(gate · x) ⊙ (up · x)) for the pass's rows of x (n, nEmbd), hidden rows in p.buf.hb
 * and hb2: the feed-forward without its norm and residual (a shared expert's, or an expert's over the rows
 * that chose it, with p.n set to their count).
 */
export function swiglu(p: Pass, t: { readonly gate: ShardedMatrix; readonly up: ShardedMatrix; readonly down: ShardedMatrix }, x: Vector, out: Vector): void {
  const { hb, hb2 } = p.buf;
  const width = t.gate.rows;
  project(p, t.gate, x, hb); // (n, width)
  project(p, t.up, x, hb2);
  for (let i = 0; i < p.n; i++) p.k.swiglu(hb.at + i * width * 4, hb.at + i * width * 4, hb2.at + i * width * 4, width);
  project(p, t.down, hb, out); // (n, nEmbd)
}
