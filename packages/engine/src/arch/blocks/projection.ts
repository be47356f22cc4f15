import type { ShardedMatrix } from "@cpu-llm/kernels";
import type { Pass } from "../pass.js";
import type { Vector } from "../weights.js";

/**
 * out (n, m.rows) = x (n, m.cols) · mᵀ, all rows in one product (each weight block loaded once for all of
 * them); then + bias (m.rows floats at `bias`) on every row when given, as ggml_add after ggml_mul_mat.
 */
export function project(p: Pass, m: ShardedMatrix, x: Vector, out: Vector, bias?: number): void {
  product(p, m, p.view(x, m.cols), p.n, p.view(out, m.rows), (i) => p.rows[i].sequence);
  if (bias === undefined) return;
  for (let i = 0; i < p.n; i++) p.k.add(out.at + i * m.rows * 4, out.at + i * m.rows * 4, bias, m.rows);
}

/**
 * out (n, m.rows) = x (n, m.cols) · mᵀ for n rows, row i belonging to sequence sequenceOf(i). Where llama.cpp
 * sums a batch otherwise than a lone row (ShardedMatrix.tinyBlas: F32/F16 matrices), a sequence with one row
 * here (a decoding step) gets the lone row's order, so its logits are those of its solo run whatever else
 * shares the step, as attention chooses its ·V order (runAttentionRows).
 */
export function product(p: Pass, m: ShardedMatrix, x: Float32Array, n: number, out: Float32Array, sequenceOf: (i: number) => number): void {
  p.mm.batch(m, x, n, out);
  if (!m.tinyBlas || n < 2) return;
  const rowsOf = new Map<number, number>();
  for (let i = 0; i < n; i++) rowsOf.set(sequenceOf(i), (rowsOf.get(sequenceOf(i)) ?? 0) + 1);
  for (let i = 0; i < n; i++) {
    if (rowsOf.get(sequenceOf(i)) === 1) p.mm.vec(m, x.subarray(i * m.cols, (i + 1) * m.cols), out.subarray(i * m.rows, (i + 1) * m.rows));
  }
}
