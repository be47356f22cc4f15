// A sampler as a chain of stages, after llama.cpp's llama_sampler chain (src/llama-sampling.cpp): each stage
// narrows or reweights the candidates in turn (a grammar masks, penalties lower logits, top-k cuts), the last one
// selects a token, and every stage is told each token the sequence accepts. New behaviour (a grammar, a
// different cut) is a stage, not a branch in one loop.
import { bestOf, SORT_ALL } from "./selection.js";

/**
 * The tokens still in the running at one step. `ids` undefined means every id of the vocabulary whose logit is
 * finite (not listed until a stage needs them: most steps of greedy decoding never do).
 */
export class Candidates {
  /** Candidate ids, most likely first when `sorted`; undefined: all finite ones (that a constraint allows). */
  ids: number[] | undefined = undefined;
  sorted = false;
  /** The token a stage chose, or -1 while none has. */
  selected = -1;
  /**
   * The softmax terms (largest logit, Σ exp(logit - max)) of the candidates before a threshold cut (min-p)
   * removed some: top-p after it normalises by these, so min-p then top-p keeps exactly the tokens llama.cpp's
   * top-p then min-p keeps, while top-p sorts only min-p's survivors. Undefined: the current candidates'.
   */
  normaliser: { readonly max: number; readonly z: number } | undefined = undefined;
  /** A constraint left no token at all (a final stage found nothing to select). */
  exhausted = false;
  private owned = false;
  private constraint: Constraint | undefined;

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
   * Only tokens the constraint allows stay candidates (a grammar). It is asked lazily, most likely tokens
   * first, so a step whose best tokens are allowed checks only those; listing every candidate asks for the
   * whole mask.
   */
  get isConstrained(): boolean {
    return this.constraint !== undefined;
  }

  constrain(constraint: Constraint): void {
    if (this.constraint) throw new Error("a step's candidates take one constraint");
    this.constraint = constraint;
    if (this.ids !== undefined) this.ids = this.ids.filter((id) => constraint.allows(id));
  }

  /**
   * The candidate ids, listed if they were not: every finite (allowed) logit in id order, sorted most likely
   * first when there are at most SORT_ALL of them (larger sets are sorted only as far as a cut needs).
   */
  list(): number[] {
    if (this.ids === undefined) {
      const l = this.logits;
      const mask = this.constraint?.mask();
      const ids: number[] = [];
      for (let i = 0; i < l.length; i++) if (l[i] > -Infinity && (!mask || mask[i])) ids.push(i);
      if (ids.length <= SORT_ALL) {
        ids.sort((a, b) => l[b] - l[a] || a - b);
        this.sorted = true;
      }
      this.ids = ids;
    }
    return this.ids;
  }

  /**
   * The k most likely candidates (ties: lower id first), best first. Under a constraint, the best tokens are
   * checked in order (LAZY_POOLS); when too few of them are allowed, the whole mask decides.
   */
  best(k: number): number[] {
    const l = this.logits;
    const constraint = this.constraint;
    if (this.ids !== undefined) return bestOf(l, this.ids, k);
    if (!constraint) {
      if (k !== 1) return bestOf(l, undefined, k);
      const top = argmax(l); // greedy decoding's one scan
      return l[top] > -Infinity ? [top] : [];
    }
    if (k === 1) {
      const top = argmax(l); // greedy decoding: the one scan, and usually the token is allowed
      if (l[top] > -Infinity && constraint.allows(top)) return [top];
    }
    const found = this.scan(k);
    return found && (found.ids.length === k || found.ended) ? found.ids : bestOf(l, this.list(), k);
  }

  /**
   * Under a constraint: the allowed candidates, best first, from the most likely down until k are found or the
   * logits fall below `floorOf(the best allowed logit)` (min-p's cut); undefined when that takes more than the
   * lazy pools (the caller then lists every candidate). `floor` is the cut itself.
   */
  bestAbove(k: number, floorOf: (max: number) => number): { ids: number[]; floor: number } | undefined {
    if (!this.constraint || this.ids !== undefined) return undefined;
    const found = this.scan(k, floorOf);
    return found && (found.ids.length === k || found.ended) ? found : undefined;
  }

  /**
   * The allowed tokens among the most likely, in order: until k, or (with floorOf) a logit below the floor of
   * the first allowed one. `ended`: the scan stopped at the floor or ran out of finite tokens, so nothing allowed
   * was missed above it. The pools widen only where most tokens fit (inside a JSON string); where few do, the
   * whole mask is cheaper than more checks, and undefined says so.
   */
  private scan(k: number, floorOf?: (max: number) => number): { ids: number[]; floor: number; ended: boolean } | undefined {
    const l = this.logits;
    const constraint = this.constraint!;
    for (const [pool, size] of LAZY_POOLS.entries()) {
      const n = Math.max(k, size);
      if (n >= l.length) return undefined;
      const top = bestOf(l, undefined, n);
      const ids: number[] = [];
      let floor = -Infinity;
      for (const id of top) {
        if (floorOf && ids.length > 0 && l[id] < floor) return { ids, floor, ended: true };
        if (!constraint.allows(id)) continue;
        if (ids.length === 0 && floorOf) floor = floorOf(l[id]);
        if (ids.push(id) === k) return { ids, floor, ended: false };
      }
      if (top.length < n) return { ids, floor, ended: true }; // every finite token was looked at
      if (pool === 0 && ids.length * 2 < top.length) return undefined;
    }
    return undefined;
  }
}

/**
 * How many of the most likely tokens are checked one by one under a constraint before the whole mask is taken:
 * a trained model's best tokens mostly fit (a few checks decide), inside a JSON string nearly all do but a few
 * (quotes, backslashes) do not (the second pool), and where few tokens fit one walk of the token trie is cheaper.
 */
const LAZY_POOLS = [16, 1024] as const;

/** Which tokens may come next: one token's verdict, or every token's at once. */
export interface Constraint {
  allows(token: number): boolean;
  /** 1 for every allowed token id. */
  mask(): Uint8Array;
}

/**
 * What a final stage does when no candidate is left: under a constraint, nothing may be chosen (the chain
 * reports it); otherwise every logit was -Infinity and the argmax is as good as any.
 */
export function selectNothing(c: Candidates): void {
  if (c.isConstrained) c.exhausted = true;
  else c.selected = argmax(c.logits);
}

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

  /**
   * The next token for these logits (not modified): the stages in order, until one selects. -1 when a
   * constraint (a grammar) allows no token at all.
   */
  sample(logits: Float32Array): number {
    const c = new Candidates(logits);
    for (const stage of this.stages) {
      stage.apply(c);
      if (c.selected >= 0) return c.selected;
      if (c.exhausted) return -1;
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
