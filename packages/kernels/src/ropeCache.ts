// RoPE angles for one position, as ggml computes them (ggml_rope_cache_init / rope_yarn without YaRN
// extrapolation): theta_i = pos · base^(-2i/nDims), divided by a per-pair frequency factor when the model has
// them (Llama 3's rope_freqs), times freq_scale for linear scaling; all in float32, theta accumulated by
// repeated multiplication exactly as ggml does, so the rounding matches.
const fround = Math.fround;

export interface RopeParams {
  /** Rotated dimensions per head (`rope.dimension_count`, usually the head size). */
  readonly nDims: number;
  /** `rope.freq_base` (10000 for Llama 2, 500000 for Llama 3). */
  readonly freqBase: number;
  /** 1 / `rope.scaling.factor` for linear scaling; 1 otherwise. */
  readonly freqScale?: number;
  /** Per-pair divisors (`rope_freqs.weight`, nDims/2 values), e.g. Llama 3.1's long-context scaling. */
  readonly freqFactors?: Float32Array;
}

/** Writes (cos, sin) for each of the nDims/2 pairs of position pos into cs[0 .. nDims). */
export function ropeCache(cs: Float32Array, pos: number, p: RopeParams): void {
  const thetaScale = fround(Math.pow(fround(p.freqBase), fround(-2 / p.nDims)));
  const freqScale = fround(p.freqScale ?? 1);
  let theta = fround(pos);
  for (let i = 0; i < p.nDims / 2; i++) {
    const ff = p.freqFactors ? p.freqFactors[i] : 1;
    const angle = fround(freqScale * fround(theta / ff));
    cs[2 * i] = Math.cos(angle);
    cs[2 * i + 1] = Math.sin(angle);
    theta = fround(theta * thetaScale);
  }
}
