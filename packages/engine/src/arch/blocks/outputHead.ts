import type { ShardedMatrix } from "@cpu-llm/kernels";
import type { Pass } from "../pass.js";
import { TENSOR } from "../tensorNames.js";
import { product } from "./projection.js";
import type { Weights } from "../weights.js";

/** The final norm and the output projection to logits. */
export interface OutputHead {
  readonly output_norm: number; // (nEmbd) f32, main arena
  readonly output: ShardedMatrix; // (nVocab, nEmbd)
}

/** `tied`: when the file has no output.weight, the token embedding is the output projection (llama.cpp's TENSOR_DUPLICATED). */
export function loadOutputHead(w: Weights, options: { readonly tied: boolean }): OutputHead {
  const { nEmbd, nVocab } = w.hp;
  const name = options.tied && !w.has(TENSOR.output) ? TENSOR.token_embd : TENSOR.output;
  return { output_norm: w.vector(TENSOR.output_norm, nEmbd), output: w.matrix(name, { rows: nVocab, cols: nEmbd }) };
}

/**
 * The logits of the rows that ask for them, in order (m × nVocab, row-major): only those rows are normalised
 * and go through the output matrix. Valid until the next pass.
 */
export function outputLogits(p: Pass, t: OutputHead): Float32Array {
  const { nEmbd, nVocab, eps } = p.hp;
  const { x, xb, logits } = p.buf;
  const sequences: number[] = []; // of the rows asking for logits
  p.rows.forEach((r, i) => {
    if (!r.logits) return;
    p.k.rmsNorm(xb.at + sequences.length * nEmbd * 4, x.at + i * nEmbd * 4, t.output_norm, nEmbd, eps);
    sequences.push(r.sequence);
  });
  const m = sequences.length;
  if (m === 0) return logits.array.subarray(0, 0);
  product(p, t.output, xb.array.subarray(0, m * nEmbd), m, logits.array.subarray(0, m * nVocab), (i) => sequences[i]);
  return logits.array.subarray(0, m * nVocab);
}
