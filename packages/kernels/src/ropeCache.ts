// RoPE angles for one position, as ggml computes them (ggml_rope_cache_init and rope_yarn, ggml-cpu ops.cpp):
// theta_i = pos · base^(-2i/nDims), divided by a per-pair frequency factor when the model has them (Llama 3's
// rope_freqs), times freq_scale for linear scaling; with YaRN, pairs below the correction range keep the
// unscaled angle, pairs above it take the scaled one, the ramp between mixes them, and cos/sin are multiplied
// by the magnitude factor. All in float32, theta accumulated by repeated multiplication exactly as ggml does,
// and cos/sin as glibc's cosf/sinf, so the rounding matches.
import { fmaF32 } from "./fmaF32.js";
import { cosF32, sinF32 } from "./sinCosF32.js";

const fround = Math.fround;

export interface RopeParams {
  /** Rotated dimensions per head (`rope.dimension_count`, usually the head size). */
  readonly nDims: number;
  /** `rope.freq_base` (10000 for Llama 2, 500000 for Llama 3). */
  readonly freqBase: number;
  /** 1 / `rope.scaling.factor` for linear and YaRN scaling; 1 otherwise. */
  readonly freqScale?: number;
  /** Per-pair divisors (`rope_freqs.weight`, nDims/2 values), e.g. Llama 3.1's long-context scaling. */
  readonly freqFactors?: Float32Array;
  /** YaRN (`rope.scaling.type` = yarn). */
  readonly yarn?: YarnParams;
}

export interface YarnParams {
  /** ggml's ext_factor: how much of the extrapolated angle the ramp mixes in (1 for YaRN). */
  readonly extFactor: number;
  /** ggml's attn_factor: the magnitude factor cos and sin are multiplied by, before YaRN's own correction. */
  readonly attnFactor: number;
  /** `rope.scaling.original_context_length`, `yarn_beta_fast`, `yarn_beta_slow`: where the ramp lies. */
  readonly origContext: number;
  readonly betaFast: number;
  readonly betaSlow: number;
}

/** ggml_rope_yarn_corr_dims: the pair range [low, high] over which YaRN's ramp goes from 1 to 0. */
export function yarnCorrDims(nDims: number, freqBase: number, y: YarnParams): [number, number] {
  const dim = (beta: number) => fround(fround(nDims * fround(Math.log(fround(y.origContext / fround(beta * 2 * fround(Math.PI)))))) / fround(2 * fround(Math.log(freqBase))));
  return [Math.max(0, Math.floor(dim(y.betaFast))), Math.min(nDims - 1, Math.ceil(dim(y.betaSlow)))];
}

/** Writes (cos, sin) for each of the nDims/2 pairs of position pos into cs[0 .. nDims). */
export function ropeCache(cs: Float32Array, pos: number, p: RopeParams): void {
  const thetaScale = fround(Math.pow(fround(p.freqBase), fround(-2 / p.nDims)));
  const freqScale = fround(p.freqScale ?? 1);
  const y = p.yarn;
  const ext = y ? fround(y.extFactor) : 0;
  const [low, high] = y ? yarnCorrDims(p.nDims, p.freqBase, y) : [0, 0];
  let mscale = y ? fround(y.attnFactor) : 1;
  // GCC contracts rope_yarn's `1.0f + 0.1f * logf(…)` and `theta_interp * (1 - ramp_mix) + theta_extrap * ramp_mix`
  // into FMAs; without them 70 of a 512-position table's values differ (DeepSeek2's YaRN: factor 40, original
  // context 4096), which moved its long-prompt logits.
  if (ext !== 0) mscale = fround(mscale * fmaF32(fround(0.1), fround(Math.log(fround(1 / freqScale))), 1));
  let theta = fround(pos);
  for (let i = 0; i < p.nDims / 2; i++) {
    const ff = p.freqFactors ? p.freqFactors[i] : 1;
    const extrapolated = fround(theta / ff);
    let angle = fround(freqScale * extrapolated);
    if (ext !== 0) {
      // rope_yarn_ramp: 1 below `low`, 0 above `high`.
      const ramp = fround(1 - Math.min(1, Math.max(0, fround(fround(i - low) / Math.max(0.001, fround(high - low))))));
      const mix = fround(ramp * ext);
      angle = fmaF32(angle, fround(1 - mix), fround(extrapolated * mix));
    }
    cs[2 * i] = fround(cosF32(angle) * mscale);
    cs[2 * i + 1] = fround(sinF32(angle) * mscale);
    theta = fround(theta * thetaScale);
  }
}
