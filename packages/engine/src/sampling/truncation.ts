// Stages that cut the candidates to a most-likely set, as llama.cpp's top-k, top-p and min-p samplers do, without
// a full sort per token: top-k keeps a bounded heap, top-p takes from a heap only as far as it needs.
import { SORT_ALL, type Candidates, type SamplerStage } from "./samplerChain.js";

/** The k most likely candidates (ties: lower id first), sorted. k ≤ 0 or ≥ the vocabulary keeps all. */
export function topK(k: number): SamplerStage {
  return {
    name: "top-k",
    apply(c: Candidates) {
      const l = c.logits;
      if (k <= 0 || k >= l.length || (c.ids !== undefined && c.ids.length <= k && c.sorted)) return;
      c.ids = bestOf(l, c.ids, k);
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

/** a ranks below b: lower logit, or the same logit and a higher id. */
const below = (l: Float32Array, a: number, b: number) => l[a] < l[b] || (l[a] === l[b] && a > b);

/** Restores a binary heap below `at` (the first `size` entries), `first(a, b)` saying a goes above b. */
function siftDown(heap: number[], size: number, at: number, first: (a: number, b: number) => boolean): void {
  for (;;) {
    const left = 2 * at + 1;
    let top = at;
    if (left < size && first(heap[left], heap[top])) top = left;
    if (left + 1 < size && first(heap[left + 1], heap[top])) top = left + 1;
    if (top === at) return;
    [heap[at], heap[top]] = [heap[top], heap[at]];
    at = top;
  }
}

/** The k best finite logits' ids among `ids` (all when undefined), best first: a min-heap of the k best so far. */
function bestOf(l: Float32Array, ids: readonly number[] | undefined, k: number): number[] {
  const worse = (a: number, b: number) => below(l, a, b);
  const heap: number[] = [];
  const n = ids ? ids.length : l.length;
  for (let at = 0; at < n; at++) {
    const i = ids ? ids[at] : at;
    if (!(l[i] > -Infinity)) continue;
    if (heap.length < k) {
      heap.push(i);
      if (heap.length === k) for (let h = (k >> 1) - 1; h >= 0; h--) siftDown(heap, k, h, worse);
    } else if (below(l, heap[0], i)) {
      heap[0] = i;
      siftDown(heap, k, 0, worse);
    }
  }
  return heap.sort((a, b) => l[b] - l[a] || a - b);
}

/**
 * The candidates most likely first, as far as top-p needs them: a small set is sorted whole; a large one (no
 * top-k, no min-p: up to the whole vocabulary) is taken from a heap until its probability reaches topP.
 */
function mostLikelyFirst(l: Float32Array, ids: number[], max: number, z: number, topP: number): number[] {
  if (ids.length <= SORT_ALL) return ids.slice().sort((a, b) => l[b] - l[a] || a - b);
  const heap = ids.slice();
  const better = (a: number, b: number) => below(l, b, a);
  for (let at = (heap.length >> 1) - 1; at >= 0; at--) siftDown(heap, heap.length, at, better);
  const out: number[] = [];
  let cumulative = 0;
  for (let size = heap.length; size > 0 && cumulative < topP; size--) {
    const next = heap[0];
    out.push(next);
    cumulative += Math.exp(l[next] - max) / z;
    heap[0] = heap[size - 1];
    siftDown(heap, size - 1, 0, better);
  }
  return out;
}
