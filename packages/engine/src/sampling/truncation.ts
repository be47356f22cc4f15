// Stages that cut the candidates to a most-likely set, as llama.cpp's top-k, top-p and min-p samplers do, without
// a full sort per token: top-k keeps a bounded heap, top-p takes from a heap only as far as it needs.
import type { Candidates, SamplerStage } from "./samplerChain.js";
import { mostLikelyFirst, SORT_ALL } from "./selection.js";

/** The k most likely candidates (ties: lower id first), sorted. k ≤ 0 or ≥ the vocabulary keeps all. */
export function topK(k: number): SamplerStage {
  return {
    name: "top-k",
    apply(c: Candidates) {
      if (k <= 0 || k >= c.logits.length || (c.ids !== undefined && c.ids.length <= k && c.sorted)) return;
      c.ids = c.best(k);
      c.sorted = true;
    },
  };
}

/**
 * The smallest most-likely set whose probability (softmax of the candidates' logits, before temperature, as
 * llama.cpp orders it) reaches p; at least one token.
 */
export function topP(p: number): SamplerStage {
  return {
    name: "top-p",
    apply(c: Candidates) {
      if (p >= 1) return;
      const l = c.logits;
      let ids = c.list();
      const { max, z } = softmaxTerms(l, ids);
      if (!c.sorted) ids = mostLikelyFirst(l, ids, max, z, p);
      let cumulative = 0;
      let keep = ids.length;
      for (let i = 0; i < ids.length; i++) {
        cumulative += Math.exp(l[ids[i]] - max) / z;
        if (cumulative >= p) {
          keep = i + 1;
          break;
        }
      }
      c.ids = ids.slice(0, Math.max(1, keep));
      c.sorted = true;
    },
  };
}

/**
 * Drops candidates less likely than p × the most likely one, compared in logits and float32 as llama.cpp does
 * (llama_sampler_min_p_apply): logit ≥ max + logf(p), so a token exactly at the cutoff is kept.
 */
export function minP(p: number): SamplerStage {
  const logP = Math.fround(Math.log(p));
  return {
    name: "min-p",
    apply(c: Candidates) {
      if (p <= 0) return;
      const l = c.logits;
      const ids = c.list();
      const { max } = softmaxTerms(l, ids, false);
      const floor = Math.fround(max + logP);
      const sorted = c.sorted;
      c.ids = ids.filter((i, k) => (sorted ? k === 0 : l[i] === max) || l[i] >= floor);
      if (!sorted && c.ids.length <= SORT_ALL) {
        c.ids.sort((a, b) => l[b] - l[a] || a - b);
        c.sorted = true;
      }
    },
  };
}

/** The largest candidate logit, and (when asked) Σ exp(logit - max) over the candidates. */
function softmaxTerms(l: Float32Array, ids: readonly number[], withZ = true): { max: number; z: number } {
  let max = -Infinity;
  for (const i of ids) if (l[i] > max) max = l[i];
  let z = 0;
  if (withZ) for (const i of ids) z += Math.exp(l[i] - max);
  return { max, z };
}

