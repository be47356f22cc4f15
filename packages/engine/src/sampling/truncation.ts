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
      c.normaliser = undefined;
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
      const { max, z } = c.normaliser ?? softmaxTerms(l, ids);
      if (!c.sorted) ids = mostLikelyFirst(l, ids, max, z, p);
      c.ids = ids.slice(0, Math.max(1, topPKeep(l, ids, max, z, p)));
      c.sorted = true;
    },
  };
}

/**
 * Drops candidates less likely than p × the most likely one, compared in logits and float32 as llama.cpp does
 * (llama_sampler_min_p_apply): logit ≥ max + logf(p), so a token exactly at the cutoff is kept. `beforeTopP`:
 * a top-p stage follows, which is to normalise by the candidates as they were before this cut.
 */
export function minP(p: number, beforeTopP = false): SamplerStage {
  const logP = Math.fround(Math.log(p));
  return {
    name: "min-p",
    apply(c: Candidates) {
      if (p <= 0) return;
      const l = c.logits;
      const ids = c.list();
      // A top-p after this cut normalises by the set as it was before it (see Candidates.normaliser).
      const terms = c.normaliser ?? softmaxTerms(l, ids, beforeTopP);
      if (beforeTopP) c.normaliser = terms;
      const { max } = terms;
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

/** How many of the sorted ids top-p keeps (ids.length when their probability never reaches p). */
function topPKeep(l: Float32Array, ids: readonly number[], max: number, z: number, p: number): number {
  let cumulative = 0;
  for (let i = 0; i < ids.length; i++) {
    cumulative += Math.exp(l[ids[i]] - max) / z;
    if (cumulative >= p) return i + 1;
  }
  return ids.length;
}

/**
 * top-k, top-p and min-p under a constraint (a grammar), with the same result as the three in a row but without
 * the whole mask when the answer is already decided: min-p drops every token below max + logf(minP) whatever
 * the others are, so the allowed tokens above that floor are found by checking the most likely ones in order.
 * If k of them are allowed, top-k is decided; if fewer, the allowed tokens below the floor (at most k - n, or
 * the rest of the vocabulary without a top-k) only add to top-p's normaliser, and when top-p's cut is the same
 * for the smallest and the largest normaliser they allow, it is decided too. Otherwise: the three stages.
 */
export function constrainedCuts(k: number, p: number, m: number): SamplerStage {
  const standard = [topK(k), topP(p), minP(m)];
  const logM = Math.fround(Math.log(m));
  return {
    name: "top-k/top-p/min-p (constrained)",
    apply(c: Candidates) {
      const l = c.logits;
      const limit = k > 0 && k < l.length ? k : l.length;
      const found = m > 0 ? c.bestAbove(limit, (max) => Math.fround(max + logM)) : undefined;
      if (found && found.ids.length > 0) {
        const { ids, floor } = found;
        const n = ids.length;
        const { max, z } = softmaxTerms(l, ids);
        let keep = n;
        if (p < 1 && n === limit) {
          keep = topPKeep(l, ids, max, z, p); // top-k decided: z is the one top-p computes
        } else if (p < 1) {
          // Allowed tokens below the floor (unknown) raise z by at most (limit - n) · e^(floor - max); the
          // whole-vocabulary z also sums in another order (a rounding either way): both ends must agree.
          const low = topPKeep(l, ids, max, z * (1 - 1e-9), p);
          if (low < n) {
            if (topPKeep(l, ids, max, (z + (limit - n) * Math.exp(floor - max)) * (1 + 1e-9), p) !== low) return standardCuts(c);
            keep = low;
          }
        }
        // min-p keeps every one of ids (each is at or above its floor).
        c.ids = ids.slice(0, Math.max(1, keep));
        c.sorted = true;
        return;
      }
      standardCuts(c);
    },
  };
  function standardCuts(c: Candidates): void {
    for (const stage of standard) stage.apply(c);
  }
}

/** The largest candidate logit, and (when asked) Σ exp(logit - max) over the candidates. */
function softmaxTerms(l: Float32Array, ids: readonly number[], withZ = true): { max: number; z: number } {
  let max = -Infinity;
  for (const i of ids) if (l[i] > max) max = l[i];
  let z = 0;
  if (withZ) for (const i of ids) z += Math.exp(l[i] - max);
  return { max, z };
}

