// Partial selection over logits without a full sort: a bounded heap for the k best, a heap drained only as far
// as top-p needs. Ties rank the lower id first, as a stable sort of llama.cpp's candidates would.
/** Candidate sets up to this size are sorted whole; larger ones (no top-k, no min-p) only as far as top-p needs. */
export const SORT_ALL = 4096;

/** a ranks below b: lower logit, or the same logit and a higher id. */
export const below = (l: Float32Array, a: number, b: number) => l[a] < l[b] || (l[a] === l[b] && a > b);

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
export function bestOf(l: Float32Array, ids: readonly number[] | undefined, k: number): number[] {
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
export function mostLikelyFirst(l: Float32Array, ids: number[], max: number, z: number, topP: number): number[] {
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
