// Stages that move logits before any cut: llama.cpp's penalties sampler (llama_sampler_penalties) and logit bias.
import type { Candidates, SamplerStage } from "./samplerChain.js";

/**
 * Repetition, presence and frequency penalties over the last `lastN` tokens of the sequence (prompt included,
 * as llama-server tells its sampler the prompt): a recent token's positive logit is divided by `repeat`, a
 * negative one multiplied, then count × frequency + presence is subtracted.
 */
export function penalties(o: { repeat: number; presence: number; frequency: number; lastN: number }): SamplerStage {
  // The window: every accepted token, trimmed to the last lastN when it grows to twice that.
  let recent: number[] = [];
  const remember = (tokens: readonly number[]) => {
    recent.push(...tokens);
    if (recent.length > 2 * o.lastN && recent.length > 1024) recent = recent.slice(-o.lastN);
  };
  return {
    name: "penalties",
    apply(c: Candidates) {
      const counts = new Map<number, number>();
      for (const t of recent.slice(-o.lastN)) counts.set(t, (counts.get(t) ?? 0) + 1);
      const l = c.writable();
      for (const [t, n] of counts) {
        if (t < 0 || t >= l.length) continue;
        l[t] = l[t] > 0 ? l[t] / o.repeat : l[t] * o.repeat;
        l[t] -= n * o.frequency + o.presence;
      }
    },
    accept: (token) => remember([token]),
    acceptPrompt: remember,
  };
}

/** Adds a bias to the logits of some token ids (-Infinity bans a token). */
export function logitBias(bias: Readonly<Record<number, number>>): SamplerStage {
  const entries = Object.entries(bias).map(([t, b]) => [Number(t), b] as const);
  return {
    name: "logit-bias",
    apply(c: Candidates) {
      const l = c.writable();
      for (const [t, b] of entries) if (t < l.length) l[t] += b;
    },
  };
}
