// A sampler as a chain of stages, after llama.cpp's llama_sampler chain (src/llama-sampling.cpp): each stage
// narrows or reweights the candidates in turn (a grammar masks, penalties lower logits, top-k cuts), the last one
// selects a token, and every stage is told each token the sequence accepts. New behaviour (a grammar, a
// different cut) is a stage, not a branch in one loop.

/**
 * The tokens still in the running at one step. `ids` undefined means every id of the vocabulary whose logit is
 * finite (not listed until a stage needs them: most steps of greedy decoding never do).
 */
export class Candidates {
  /** Candidate ids, most likely first when `sorted`; undefined: all finite ones. */
  ids: number[] | undefined = undefined;
  sorted = false;
  /** The token a stage chose, or -1 while none has. */
  selected = -1;
  private owned = false;

  constructor(
    /** The logits, indexed by token id: the model's own until a stage asks to write them. */
    public logits: Float32Array,
  ) {}

  /** The logits to change: a copy on the first call, so the model's row is never touched. */
  writable(): Float32Array {
    if (!this.owned) {
      this.logits = this.logits.slice();
      this.owned = true;
    }
    return this.logits;
  }

  /**
   * The candidate ids, listed if they were not: every finite logit in id order, sorted most likely first when
   * there are at most SORT_ALL of them (larger sets are sorted only as far as a cut needs).
   */
  list(): number[] {
    if (this.ids === undefined) {
      const l = this.logits;
      const ids: number[] = [];
      for (let i = 0; i < l.length; i++) if (l[i] > -Infinity) ids.push(i);
      if (ids.length <= SORT_ALL) {
        ids.sort((a, b) => l[b] - l[a] || a - b);
        this.sorted = true;
      }
      this.ids = ids;
    }
    return this.ids;
  }
}

/** Candidate sets up to this size are sorted whole; larger ones (no top-k, no min-p) only as far as top-p needs. */
export const SORT_ALL = 4096;

export interface SamplerStage {
  /** For messages and debugging: "top-k", "grammar", … */
  readonly name: string;
  /** Narrows, reweights or selects among the candidates. */
  apply(candidates: Candidates): void;
  /** The sequence accepted this token (sampled, or forced): stages with state (penalties, a grammar) advance. */
  accept?(token: number): void;
  /** Tokens already in the sequence before generation starts (the prompt): penalties count them, a grammar does not. */
  acceptPrompt?(tokens: readonly number[]): void;
}

export class SamplerChain {
  constructor(readonly stages: readonly SamplerStage[]) {}

  /** The next token for these logits (not modified): the stages in order, until one selects. */
  sample(logits: Float32Array): number {
    const c = new Candidates(logits);
    for (const stage of this.stages) {
      stage.apply(c);
      if (c.selected >= 0) return c.selected;
    }
    throw new Error(`sampler chain [${this.stages.map((s) => s.name).join(", ")}] selected no token: it needs a final stage that draws`);
  }

  accept(token: number): void {
    for (const stage of this.stages) stage.accept?.(token);
  }

  acceptPrompt(tokens: readonly number[]): void {
    for (const stage of this.stages) stage.acceptPrompt?.(tokens);
  }
}

export function argmax(logits: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}
