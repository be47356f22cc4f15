// The sampling options of the API and the sampler chain they make (samplerChain.ts; the stages are in
// penalties.ts, truncation.ts and draw.ts). Temperature 0 is greedy (lowest id on ties).
import { checkOptions } from "../options.js";
import { dist, greedy } from "./draw.js";
import { logitBias, penalties } from "./penalties.js";
import { SamplerChain, type SamplerStage } from "./samplerChain.js";
import { constrainedCuts, minP, topK, topP } from "./truncation.js";

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
  /** How many recent tokens (the prompt's too) the penalties look at; 0 = off. Default 64. */
  repeatLastN?: number;
  /** Added to the logits of these token ids (-Infinity bans a token). */
  logitBias?: Readonly<Record<number, number>>;
  /** Seed of the random draw: the same seed gives the same tokens. Default: random. */
  seed?: number;
}

/**
 * The chain for these options, in llama.cpp's default order (common/sampling.cpp): logit bias and penalties,
 * then greedy at temperature 0, else top-k, top-p, min-p (run as min-p then top-p, the same cut) and a seeded
 * draw at the temperature. Stages that only
 * pass candidates through (a penalty of 1, top-p 1) are left out. `constraint` (a grammar) goes before them all.
 */
export function createSampler(options: SamplingOptions = {}, constraint?: SamplerStage): SamplerChain {
  checkOptions(options);
  const repeat = options.repeatPenalty ?? 1, presence = options.presencePenalty ?? 0, frequency = options.frequencyPenalty ?? 0;
  const temperature = options.temperature ?? 0.8;
  // A constraint (the grammar) first, as llama.cpp applies it before the chain when it resamples.
  const stages: SamplerStage[] = constraint ? [constraint] : [];
  const lastN = options.repeatLastN ?? 64;
  // Bias first, then penalties, as common_sampler_init adds them (a biased token's repeat penalty divides the
  // biased logit); a window of 0 tokens is off, as llama.cpp's penalty_last_n 0.
  if (options.logitBias) stages.push(logitBias(options.logitBias));
  if ((repeat !== 1 || presence !== 0 || frequency !== 0) && lastN > 0) stages.push(penalties({ repeat, presence, frequency, lastN }));
  if (temperature <= 0) return new SamplerChain([...stages, greedy()]);
  const p = options.topP ?? 0.95, m = options.minP ?? 0.05, k = options.topK ?? 40;
  if (constraint && m > 0) {
    stages.push(constrainedCuts(k, p, m)); // the same three cuts, decided without the whole mask where it can
  } else {
    // min-p before top-p: the same tokens as llama.cpp's top-p then min-p (both keep a most-likely prefix, and
    // top-p normalises by the set min-p was given), but top-p then sorts only what min-p kept.
    stages.push(topK(k));
    if (m > 0) stages.push(minP(m, p < 1));
    if (p < 1) stages.push(topP(p));
  }
  stages.push(dist(temperature, options.seed ?? Math.floor(Math.random() * 2 ** 32)));
  return new SamplerChain(stages);
}
