import type { Pass } from "../pass.js";
import type { Vector } from "../weights.js";

/** out[i] = x[i] / rms(x[i]) · weight for every row (ggml_rms_norm then ggml_mul, llama.cpp build_norm LLM_NORM_RMS). */
export function rmsNorm(p: Pass, out: Vector, x: Vector, weight: number): void {
  const { nEmbd, eps } = p.hp;
  for (let i = 0; i < p.n; i++) p.k.rmsNorm(out.at + i * nEmbd * 4, x.at + i * nEmbd * 4, weight, nEmbd, eps);
}
