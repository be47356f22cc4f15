import type { ShardedMatrix } from "@cpu-llm/kernels";
import type { Pass } from "../pass.js";
import type { Vector } from "../weights.js";

/**
 * out (n, m.rows) = x (n, m.cols) · mᵀ, all rows in one product (each weight block loaded once for all of
 * them); then + bias (m.rows floats at `bias`) on every row when given, as ggml_add after ggml_mul_mat.
 */
export function project(p: Pass, m: ShardedMatrix, x: Vector, out: Vector, bias?: number): void {
  p.mm.batch(m, p.view(x, m.cols), p.n, p.view(out, m.rows));
  if (bias === undefined) return;
  for (let i = 0; i < p.n; i++) p.k.add(out.at + i * m.rows * 4, out.at + i * m.rows * 4, bias, m.rows);
}
