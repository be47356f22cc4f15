import type { Pass } from "../pass.js";
import type { Vector } from "../weights.js";

/**
 * out[i] = x[i] / rms(x[i]) · weight for every row of `width` values (nEmbd by default): ggml_rms_norm then
 * ggml_mul, llama.cpp's build_norm with LLM_NORM_RMS. Rows of out and x are `width` apart.
 */
export function rmsNorm(p: Pass, out: Vector, x: Vector, weight: number, width = p.hp.nEmbd): void {
  for (let i = 0; i < p.n; i++) p.k.rmsNorm(out.at + i * width * 4, x.at + i * width * 4, weight, width, p.hp.eps);
}
