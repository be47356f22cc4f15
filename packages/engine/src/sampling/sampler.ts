// Token sampling in llama.cpp's default order (common/sampling.cpp): repetition/presence/frequency penalties,
// logit bias, top-k, top-p, min-p, temperature, then a seeded draw. Temperature 0 is greedy (lowest id on ties).

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

    // Candidates sorted by logit (ties: lower id first), cut by top-k.
    let ids = Array.from({ length: l.length }, (_, i) => i).filter((i) => l[i] > -Infinity);
    ids.sort((a, b) => l[b] - l[a] || a - b);
    if (o.topK > 0) ids = ids.slice(0, o.topK);
    // top-p and min-p on the softmax of the remaining candidates (before temperature, as llama.cpp orders them).
    const probs = softmaxOf(ids.map((i) => l[i]));
    if (o.topP < 1) {
      let cumulative = 0;
      let keep = ids.length;
      for (let i = 0; i < ids.length; i++) {
        cumulative += probs[i];
        if (cumulative >= o.topP) {
          keep = i + 1;
          break;
        }
      }
      ids = ids.slice(0, Math.max(1, keep));
    }
    if (o.minP > 0) {
      const floor = probs[0] * o.minP;
      ids = ids.filter((_, i) => i === 0 || probs[i] >= floor);
    }
    const final = softmaxOf(ids.map((i) => l[i] / o.temperature));
    let r = this.random();
    for (let i = 0; i < ids.length; i++) {
      r -= final[i];
      if (r <= 0) return ids[i];
    }
    return ids[ids.length - 1];
  }
}

function softmaxOf(logits: number[]): number[] {
  const max = Math.max(...logits);
  const e = logits.map((x) => Math.exp(x - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / sum);
}
