/** A token's log-probability and the top-n alternatives, from raw logits (log-sum-exp in double). */
export function logprobsOf(logits: Float32Array, token: number, n: number): { logprob: number; top: { tokenId: number; logit: number; logprob: number }[] } {
  let max = -Infinity;
  for (const l of logits) max = Math.max(max, l);
  let sum = 0;
  for (const l of logits) sum += Math.exp(l - max);
  const lse = max + Math.log(sum);
  const order = Array.from({ length: logits.length }, (_, i) => i).sort((a, b) => logits[b] - logits[a] || a - b).slice(0, n);
  return { logprob: logits[token] - lse, top: order.map((i) => ({ tokenId: i, logit: logits[i], logprob: logits[i] - lse })) };
}
