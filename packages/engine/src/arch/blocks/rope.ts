import type { Pass } from "../pass.js";
import type { Vector } from "../weights.js";

/**
 * How RoPE pairs a head's dimensions (llama.cpp's rope_type): "norm" rotates neighbours (2i, 2i+1), the
 * layout of Llama's and Baichuan's GGUF files; "neox" rotates i with i + nDims/2 (GPT-NeoX, Qwen2).
 */
export type RopeMode = "norm" | "neox";

/** Rotates the first rope.nDims dimensions of each of nHeads heads of every row by that row's position. */
export function rope(p: Pass, x: Vector, nHeads: number, mode: RopeMode): void {
  const { headDim } = p.hp;
  const nDims = p.hp.rope.nDims;
  const kernel = mode === "neox" ? p.k.ropeNeox : p.k.ropeNorm;
  for (let i = 0; i < p.n; i++) kernel(x.at + i * nHeads * headDim * 4, nHeads, headDim, nDims, p.buf.rope.at + i * nDims * 4);
}
