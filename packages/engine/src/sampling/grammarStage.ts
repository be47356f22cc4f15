// The grammar as a sampler stage: the candidates are constrained to the tokens whose text the grammar can take
// next (end-of-generation only where the grammar can end), asked lazily, most likely first (samplerChain.ts), so
// a step whose best tokens fit costs a few checks; the whole mask, when a stage needs every candidate, is one
// walk of the token trie. Exact either way: the draw is the one the masked logits give.
import { GrammarMatcher, type MatchState } from "../grammar/grammarMatcher.js";
import type { Grammar } from "../grammar/gbnf.js";
import { SKIP_DEPTHS, tokenTrie } from "../grammar/tokenTrie.js";
import type { Tokenizer } from "../tokenizer/tokenizer.js";
import type { Candidates, SamplerStage } from "./samplerChain.js";

/**
 * One matcher per grammar and tokenizer, shared by every sequence (and request) that uses them: its stacks are
 * hash-consed, so equal states are equal objects, and the masks of recent states are kept by state.
 */
interface Shared {
  readonly matcher: GrammarMatcher;
  readonly masks: Map<string, Uint8Array>;
}
const shared = new WeakMap<Grammar, WeakMap<Tokenizer, Shared>>();
/** Masks kept per grammar and tokenizer (152 KB each on a 152K vocabulary), least recently used dropped first. */
const MASKS_KEPT = 32;

function sharedFor(grammar: Grammar, tokenizer: Tokenizer): Shared {
  let byTokenizer = shared.get(grammar);
  if (!byTokenizer) shared.set(grammar, (byTokenizer = new WeakMap()));
  let s = byTokenizer.get(tokenizer);
  if (!s) byTokenizer.set(tokenizer, (s = { matcher: new GrammarMatcher(grammar), masks: new Map() }));
  return s;
}

export class GrammarStage implements SamplerStage {
  readonly name = "grammar";
  private readonly matcher: GrammarMatcher;
  private readonly masks: Map<string, Uint8Array>;
  private state: MatchState;
  /** This step's verdicts: the state after each token checked (null: refused). */
  private verdicts = new Map<number, MatchState | null>();

  constructor(grammar: Grammar, private readonly tokenizer: Tokenizer) {
    ({ matcher: this.matcher, masks: this.masks } = sharedFor(grammar, tokenizer));
    this.state = this.matcher.initial;
  }

  /** The output so far is a complete match (only the end may follow). */
  get complete(): boolean {
    return this.matcher.isComplete(this.state);
  }

  apply(c: Candidates): void {
    c.constrain({ allows: (id) => this.allows(id), mask: () => this.mask() });
  }

  accept(token: number): void {
    if (this.tokenizer.isEog(token)) return;
    const next = this.after(token);
    if (!next) throw new Error(`token ${token} does not fit the grammar here: the sampler chain let through a token the grammar refused`);
    this.state = next;
    this.verdicts = new Map();
  }

  /** Advances over text written outside the sampler (a lazy grammar's trigger); false if the grammar refuses it. */
  acceptText(text: string): boolean {
    const next = this.matcher.advanceBytes(this.state, new TextEncoder().encode(text));
    if (!next) return false;
    this.state = next;
    this.verdicts = new Map();
    return true;
  }

  allows(token: number): boolean {
    if (this.tokenizer.isEog(token)) return this.matcher.canEnd(this.state);
    return this.after(token) !== undefined;
  }

  /**
   * 1 for every token the grammar takes next (not to be written): the trie walked once, refused prefixes
   * skipped; a state met before (the same stacks, as inside a string) reuses its mask.
   */
  mask(): Uint8Array {
    const key = this.matcher.stateKey(this.state);
    const kept = this.masks.get(key);
    if (kept) {
      this.masks.delete(key);
      this.masks.set(key, kept);
      return kept;
    }
    const mask = this.walk();
    this.masks.set(key, mask);
    if (this.masks.size > MASKS_KEPT) this.masks.delete(this.masks.keys().next().value!);
    return mask;
  }

  private walk(): Uint8Array {
    const { order, lcp, bytes, starts, skip, maxBytes } = tokenTrie(this.tokenizer);
    const out = new Uint8Array(this.tokenizer.size);
    const matcher = this.matcher;
    // states[d]: the number of the state after the current token's first d bytes.
    const states = new Int32Array(maxBytes + 1);
    states[0] = matcher.idOf(this.state);
    let table = matcher.transitionTable;
    for (let i = 0; i < order.length;) {
      const start = starts[i], length = starts[i + 1] - start;
      let d = lcp[i];
      for (; d < length; d++) {
        const b = bytes[start + d];
        let next = table[states[d] * 256 + b] - 1; // the transition, if taken before (-1: not yet)
        if (next < 0) {
          next = table[states[d] * 256 + b] === -1 ? -1 : matcher.followId(states[d], b);
          table = matcher.transitionTable;
          if (next < 0) break;
        }
        states[d + 1] = next;
      }
      if (d === length) {
        out[order[i]] = 1;
        i++;
      } else if (d < SKIP_DEPTHS) {
        i = skip[d][i]; // every later token sharing these d + 1 bytes is refused too
      } else {
        do i++;
        while (i < order.length && lcp[i] > d);
      }
    }
    if (matcher.canEnd(this.state)) for (const id of this.eogIds()) out[id] = 1;
    return out;
  }

  private after(token: number): MatchState | undefined {
    let v = this.verdicts.get(token);
    if (v === undefined) {
      const piece = this.tokenizer.tokenToPiece(token);
      v = (piece.length > 0 ? this.matcher.advanceBytes(this.state, piece) : undefined) ?? null;
      this.verdicts.set(token, v);
    }
    return v ?? undefined;
  }

  private eogIds(): number[] {
    return [...this.tokenizer.vocab.eog].filter((id) => id < this.tokenizer.size);
  }
}

/**
 * A grammar that applies only from a trigger on (llama.cpp's lazy grammars: a tool call in free text). Until the
 * trigger appears in the accepted tokens' text nothing is constrained; then the grammar takes the text from the
 * trigger's start and constrains every later token. An `anchored` trigger counts only at the start of the text
 * (after blanks): text that begins otherwise stays free. A trigger whose text the grammar refuses leaves the
 * output free (the call is then not parsed, and stays content).
 */
export class LazyGrammarStage implements SamplerStage {
  readonly name = "grammar (lazy)";
  private inner: GrammarStage | undefined;
  private refused = false;
  private text = "";
  private readonly decoder = new TextDecoder("utf-8");

  constructor(private readonly grammar: Grammar, private readonly tokenizer: Tokenizer, private readonly trigger: string, private readonly anchored = false) {}

  get complete(): boolean {
    return this.inner?.complete ?? false;
  }

  apply(c: Candidates): void {
    this.inner?.apply(c);
  }

  accept(token: number): void {
    if (this.inner) return this.inner.accept(token);
    if (this.refused || this.tokenizer.isEog(token)) return;
    this.text += this.decoder.decode(this.tokenizer.tokenToPiece(token), { stream: true });
    let at: number;
    if (this.anchored) {
      const lead = this.text.trimStart();
      if (lead.length < this.trigger.length && this.trigger.startsWith(lead)) return; // undecided yet
      if (!lead.startsWith(this.trigger)) {
        this.refused = true; // the answer began otherwise: free text
        return;
      }
      at = this.text.length - lead.length;
    } else {
      at = this.text.indexOf(this.trigger);
      if (at < 0) {
        this.text = this.text.slice(-2 * this.trigger.length); // only a trigger's worth of text can matter
        return;
      }
    }
    const stage = new GrammarStage(this.grammar, this.tokenizer);
    if (stage.acceptText(this.text.slice(at))) this.inner = stage;
    else this.refused = true;
  }
}
