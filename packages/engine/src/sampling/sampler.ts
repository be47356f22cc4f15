// Token sampling in llama.cpp's default order (common/sampling.cpp): repetition/presence/frequency penalties,
// logit bias, top-k, top-p, min-p, temperature, then a seeded draw. Temperature 0 is greedy (lowest id on ties).
import { checkOptions } from "../options.js";

export interface SamplingOptions {
  /** 0 = greedy. Default 0.8 (llama.cpp's). */
  temperature?: number;
  /** Keep the k most likely tokens; 0 = all. Default 40. */
  topK?: number;
  /** Keep the smallest set whose probability reaches p; 1 = all. Default 0.95. */
  topP?: number;
  /** Drop tokens less likely than minP × the most likely one; 0 = off. Default 0.05. */
  minP?: number;
  /** Divide positive logits / multiply negative ones of recent tokens by this; 1 = off. Default 1. */
  repeatPenalty?: number;
  /** Subtract from the logit of every recent token; default 0. */
  presencePenalty?: number;
  /** Subtract count × this from the logit of recent tokens; default 0. */
  frequencyPenalty?: number;
  /** How many recent tokens the penalties look at. Default 64. */
  repeatLastN?: number;
  /** Added to the logits of these token ids (-Infinity bans a token). */
  logitBias?: Readonly<Record<number, number>>;
  /** Seed of the random draw: the same seed gives the same tokens. Default: random. */
  seed?: number;
}

/** A small seeded generator (mulberry32): reproducible across runs and platforms. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function argmax(logits: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

export class Sampler {
  private readonly random: () => number;
  private readonly o: Required<Omit<SamplingOptions, "logitBias" | "seed">> & Pick<SamplingOptions, "logitBias">;

  constructor(options: SamplingOptions = {}) {
    checkOptions(options);
    this.o = {
      temperature: options.temperature ?? 0.8,
      topK: options.topK ?? 40,
      topP: options.topP ?? 0.95,
      minP: options.minP ?? 0.05,
      repeatPenalty: options.repeatPenalty ?? 1,
      presencePenalty: options.presencePenalty ?? 0,
      frequencyPenalty: options.frequencyPenalty ?? 0,
      repeatLastN: options.repeatLastN ?? 64,
      logitBias: options.logitBias,
    };
    this.random = seededRandom(options.seed ?? Math.floor(Math.random() * 2 ** 32));
  }

  /** Picks the next token from logits (not modified), given the tokens so far (for penalties). */
  sample(logits: Float32Array, history: readonly number[]): number {
    const o = this.o;
    const needsCopy = o.logitBias || o.repeatPenalty !== 1 || o.presencePenalty !== 0 || o.frequencyPenalty !== 0;
    const l = needsCopy ? logits.slice() : logits;
    if (needsCopy) {
      const counts = new Map<number, number>();
      for (const t of history.slice(-o.repeatLastN)) counts.set(t, (counts.get(t) ?? 0) + 1);
      for (const [t, n] of counts) {
        if (t < 0 || t >= l.length) continue;
        l[t] = l[t] > 0 ? l[t] / o.repeatPenalty : l[t] * o.repeatPenalty;
        l[t] -= n * o.frequencyPenalty + o.presencePenalty;
      }
      for (const [t, bias] of Object.entries(o.logitBias ?? {})) if (Number(t) < l.length) l[Number(t)] += bias;
    }
    if (o.temperature <= 0) return argmax(l);

    // Candidates: the top-k, sorted by logit (ties: lower id first), found with a bounded heap; or, without a
    // top-k, every finite logit, sorted only as far as the cuts below need. Never a full sort per token.
    const n = l.length;
    const limited = o.topK > 0 && o.topK < n;
    let ids: number[] = limited ? topK(l, o.topK) : finiteIds(l);
    let sorted = limited || ids.length <= SORT_ALL;
    if (!limited && sorted) ids.sort((a, b) => l[b] - l[a] || a - b);
    if (ids.length === 0) return argmax(l);
    let max = -Infinity;
    for (const i of ids) if (l[i] > max) max = l[i];
    // top-p and min-p use the softmax of the candidates (before temperature, as llama.cpp orders them). Both keep
    // a most-likely prefix, so min-p (a threshold, no order needed) goes first and top-p sorts what is left.
    let z = 0;
    for (const i of ids) z += Math.exp(l[i] - max);
    if (o.minP > 0) {
      // p_i ≥ minP · p_max, compared in logits and float32 as llama.cpp does (llama_sampler_min_p_apply):
      // logit ≥ max + logf(minP), so a token exactly at the cutoff is kept.
      const floor = Math.fround(max + Math.fround(Math.log(o.minP)));
      ids = ids.filter((i, k) => (sorted ? k === 0 : l[i] === max) || l[i] >= floor);
      if (!sorted && ids.length <= SORT_ALL) {
        ids.sort((a, b) => l[b] - l[a] || a - b);
        sorted = true;
      }
    }
    if (o.topP < 1) {
      if (!sorted) ids = mostLikelyFirst(l, ids, max, z, o.topP);
      let cumulative = 0;
      let keep = ids.length;
      for (let i = 0; i < ids.length; i++) {
        cumulative += Math.exp(l[ids[i]] - max) / z;
        if (cumulative >= o.topP) {
          keep = i + 1;
          break;
        }
      }
      ids = ids.slice(0, Math.max(1, keep));
    }
    // The draw: softmax at the temperature over what is left (in double), most likely first (in id order only
    // for a large set that no cut shortened: the same distribution).
    let top = -Infinity;
    for (const i of ids) top = Math.max(top, l[i] / o.temperature);
    let sum = 0;
    for (const i of ids) sum += Math.exp(l[i] / o.temperature - top);
    let r = this.random();
    for (const i of ids) {
      r -= Math.exp(l[i] / o.temperature - top) / sum;
      if (r <= 0) return i;
    }
    return ids[ids.length - 1];
  }
}

/** Candidate sets up to this size are sorted whole; larger ones (no top-k, no min-p) only as far as top-p needs. */
const SORT_ALL = 4096;

/** Ids of the finite logits, in id order. */
function finiteIds(l: Float32Array): number[] {
  const ids: number[] = [];
  for (let i = 0; i < l.length; i++) if (l[i] > -Infinity) ids.push(i);
  return ids;
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

/** The k best finite logits' ids, best first: a min-heap of the k best so far (most logits fail one comparison). */
function topK(l: Float32Array, k: number): number[] {
  const worse = (a: number, b: number) => below(l, a, b);
  const heap: number[] = [];
  for (let i = 0; i < l.length; i++) {
    if (!(l[i] > -Infinity)) continue;
    if (heap.length < k) {
      heap.push(i);
      if (heap.length === k) for (let at = (k >> 1) - 1; at >= 0; at--) siftDown(heap, k, at, worse);
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
  if (ids.length <= SORT_ALL) return ids.sort((a, b) => l[b] - l[a] || a - b);
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
