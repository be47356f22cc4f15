// The stages that end a chain by selecting a token: the most likely one, or a seeded draw at a temperature.
import { selectNothing, type Candidates, type SamplerStage } from "./samplerChain.js";

/** The candidate with the largest logit (lowest id on ties); one scan of the logits when nothing cut them. */
export function greedy(): SamplerStage {
  return {
    name: "greedy",
    apply(c: Candidates) {
      const [best] = c.best(1);
      if (best === undefined) selectNothing(c);
      else c.selected = best;
    },
  };
}

/**
 * A draw from the softmax at `temperature` over the candidates (in double), taken in their order: most likely
 * first, or id order for a large set no cut shortened (the same distribution).
 */
export function dist(temperature: number, seed: number): SamplerStage {
  const random = seededRandom(seed);
  return {
    name: "dist",
    apply(c: Candidates) {
      const l = c.logits;
      const ids = c.list();
      if (ids.length === 0) {
        selectNothing(c);
        return;
      }
      let top = -Infinity;
      for (const i of ids) top = Math.max(top, l[i] / temperature);
      let sum = 0;
      for (const i of ids) sum += Math.exp(l[i] / temperature - top);
      let r = random();
      for (const i of ids) {
        r -= Math.exp(l[i] / temperature - top) / sum;
        if (r <= 0) {
          c.selected = i;
          return;
        }
      }
      c.selected = ids[ids.length - 1];
    },
  };
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
