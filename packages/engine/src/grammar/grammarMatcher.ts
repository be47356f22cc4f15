// Matching text against a Grammar, as llama.cpp's llama_grammar does: the state is a set of stacks (a pushdown
// automaton run on every parse at once), each stack's top the character class the text must meet next. Stacks
// are hash-consed (equal stacks are one object), so a set of them is deduplicated by identity and a step costs
// a few object lookups per live parse. Text arrives as UTF-8 bytes (tokens split characters): a character cut by
// a token's end waits, checked against the classes that could still take it, for the next token's bytes.
import { CHARS, END, next, REF, type Grammar } from "./gbnf.js";

interface Stack {
  /** Offset in grammar.code of the element to match (a CHARS after expansion); -1 for the empty stack. */
  readonly pos: number;
  readonly next: Stack | undefined;
  readonly id: number;
}

/** Where a match stands: the live stacks and a character begun by the last bytes, if any. */
export interface MatchState {
  readonly stacks: readonly Stack[];
  /** The bits of a UTF-8 character read so far, and how many continuation bytes it still needs. */
  readonly partial?: { readonly bits: number; readonly need: number; readonly length: number };
}

/** The code points a UTF-8 character of each length encodes (shorter forms of the same point are invalid). */
const UTF8_SPANS: Readonly<Record<number, readonly [number, number]>> = { 2: [0x80, 0x7ff], 3: [0x800, 0xffff], 4: [0x10000, 0x10ffff] };

/** The number an interned state has in its matcher, and the numbering it belongs to. */
const ID = Symbol("id");
const GENERATION = Symbol("generation");
type Numbered = MatchState & { [ID]?: number; [GENERATION]?: number };
/** States numbered before the numbering (and its table, 1 KB a state: 4 MB at most) starts over. */
const STATES_KEPT = 1 << 12;

/** The stack of a finished parse. */
const DONE: Stack = { pos: -1, next: undefined, id: 0 };
/** Past this many stacks the hash-consing table starts over (old stacks stay valid, only their sharing ends). */
const TABLE_LIMIT = 1 << 20;
/** Keys of (element offset, stack id) pairs: ids stay below 2^31 (never reused), offsets below 2^22. */
const key = (pos: number, id: number) => pos * 0x80000000 + id;

export class GrammarMatcher {
  private table = new Map<number, Stack>();
  private nextId = 1;
  /** The state before any text. */
  readonly initial: MatchState;

  constructor(readonly grammar: Grammar) {
    const out: Stack[] = [];
    for (const alt of grammar.rules[grammar.root]) this.expand(alt, DONE, out, new Set());
    this.initial = this.interned({ stacks: out });
  }

  /**
   * States are interned (one object per distinct state, numbered) and their transitions kept in a table by byte:
   * inside a JSON string every character leads back to the same state, so walking the token trie there is one
   * typed-array lookup a byte.
   */
  private states = new Map<string, Numbered>();
  private byId: Numbered[] = [];
  /** next[id · 256 + byte]: 0 not taken yet, -1 refused, else the next state's id + 1. */
  private next = new Int32Array(256 * 64);
  /** Bumped when the numbering starts over (past STATES_KEPT states): older numbers are then stale. */
  private generation = 0;

  private interned(state: MatchState): Numbered {
    const key = this.stateKey(state);
    const known = this.states.get(key);
    if (known) return known;
    const n = state as Numbered;
    n[ID] = this.byId.length;
    n[GENERATION] = this.generation;
    this.byId.push(n);
    this.states.set(key, n);
    if (this.next.length < this.byId.length * 256) {
      const grown = new Int32Array(this.next.length * 2);
      grown.set(this.next);
      this.next = grown;
    }
    return n;
  }

  /**
   * The number of a state this matcher returned (numbered again if the numbering started over since). The
   * numbering starts over only here, past STATES_KEPT states, so the numbers a walk holds stay good through it.
   */
  idOf(state: MatchState): number {
    if (this.byId.length >= STATES_KEPT) {
      // Old states stay valid values; they are numbered again when met.
      this.states = new Map();
      this.byId = [];
      this.next = new Int32Array(256 * 64);
      this.generation++;
    }
    const n = state as Numbered;
    return n[GENERATION] === this.generation && n[ID] !== undefined ? n[ID] : this.interned({ stacks: state.stacks, partial: state.partial })[ID]!;
  }

  /** The state numbered id after one byte, as a number (-1: refused): the token trie's walk runs on these. */
  followId(id: number, b: number): number {
    const at = id * 256 + b;
    const known = this.next[at];
    if (known !== 0) return known - 1;
    const next = this.step(this.byId[id], b);
    const nid = next ? this.interned(next)[ID]! : -1;
    this.next[at] = nid + 1;
    return nid;
  }

  /** The transition table (see `next`), for walks that read it directly; it is replaced when it grows. */
  get transitionTable(): Int32Array {
    return this.next;
  }

  /** The state after `bytes`, or undefined when the grammar cannot take them. */
  advanceBytes(state: MatchState, bytes: Uint8Array): MatchState | undefined {
    let s: MatchState | undefined = state;
    for (let i = 0; i < bytes.length && s; i++) s = this.advanceByte(s, bytes[i]);
    return s;
  }

  /** The state after one byte of UTF-8 text, or undefined when the grammar cannot take it. */
  advanceByte(state: MatchState, b: number): MatchState | undefined {
    const id = this.followId(this.idOf(state), b);
    return id < 0 ? undefined : this.byId[id];
  }

  private step(state: MatchState, b: number): MatchState | undefined {
    let bits: number;
    const partial = state.partial;
    if (partial) {
      if ((b & 0xc0) !== 0x80) return undefined; // not UTF-8: a character cut short
      bits = (partial.bits << 6) | (b & 0x3f);
      if (partial.need > 1) return this.begun(state.stacks, bits, partial.need - 1, partial.length);
    } else if (b < 0x80) {
      bits = b;
    } else {
      // Lead bytes of 2, 3 and 4-byte characters; C0, C1 and F5-FF never begin one.
      const length = b >= 0xc2 && b < 0xe0 ? 2 : b >= 0xe0 && b < 0xf0 ? 3 : b >= 0xf0 && b < 0xf5 ? 4 : 0;
      if (length === 0) return undefined;
      return this.begun(state.stacks, b & (0x7f >> length), length - 1, length);
    }
    const stacks = this.advance(state.stacks, bits);
    return stacks.length > 0 ? { stacks } : undefined;
  }

  /**
   * A character begun: the code points it can still become (valid UTF-8 only: no overlong form, no surrogate,
   * nothing past U+10FFFF) must meet some stack's class, else the bytes are refused here, not a token later.
   */
  private begun(stacks: readonly Stack[], bits: number, need: number, length: number): MatchState | undefined {
    const span = 2 ** (6 * need);
    const [min, max] = UTF8_SPANS[length];
    const lo = Math.max(bits * span, min), hi = Math.min(bits * span + span - 1, max);
    if (lo > hi || (lo >= 0xd800 && hi <= 0xdfff)) return undefined;
    return stacks.some((s) => s.pos >= 0 && this.overlaps(s.pos, lo, hi)) ? { stacks, partial: { bits, need, length } } : undefined;
  }

  /** The grammar can end here: a parse is complete and no character is half read. */
  canEnd(state: MatchState): boolean {
    return state.partial === undefined && state.stacks.includes(DONE);
  }

  /** Nothing but the end is possible. */
  isComplete(state: MatchState): boolean {
    return state.partial === undefined && state.stacks.length === 1 && state.stacks[0] === DONE;
  }

  /** A string equal for equal states (stacks are hash-consed: their ids say which they are). */
  stateKey(state: MatchState): string {
    const ids = state.stacks.map((s) => s.id).sort((a, b) => a - b).join(",");
    const p = state.partial;
    return p ? `${ids}|${p.bits},${p.need},${p.length}` : ids;
  }

  /** Stacks after one code point: every stack whose top class takes it, advanced and expanded. */
  private advance(stacks: readonly Stack[], cp: number): Stack[] {
    const out: Stack[] = [];
    const seen = new Set<number>();
    for (const s of stacks) if (s.pos >= 0 && this.matches(s.pos, cp)) this.expand(next(this.grammar, s.pos), s.next!, out, seen);
    return out;
  }

  /**
   * Adds to `out` the stacks that continue at element p with `rest` below it, every rule reference opened until a
   * character class is on top; a finished parse adds DONE. `seen` (element and stack below) cuts ε-cycles.
   */
  private expand(p: number, rest: Stack, out: Stack[], seen: Set<number>): void {
    const code = this.grammar.code;
    const k = key(p, rest.id);
    if (seen.has(k)) return;
    seen.add(k);
    const op = code[p];
    if (op === CHARS) {
      const s = this.stack(p, rest);
      if (!out.includes(s)) out.push(s);
    } else if (op === REF) {
      const cont = this.stack(p + 2, rest);
      for (const alt of this.grammar.rules[code[p + 1]]) this.expand(alt, cont, out, seen);
    } else if (op === END) {
      if (rest === DONE) {
        if (!out.includes(DONE)) out.push(DONE);
      } else {
        this.expand(rest.pos, rest.next!, out, seen);
      }
    }
  }

  private stack(pos: number, next: Stack): Stack {
    const k = key(pos, next.id);
    let s = this.table.get(k);
    if (s === undefined) {
      if (this.table.size >= TABLE_LIMIT) this.table = new Map();
      s = { pos, next, id: this.nextId++ };
      this.table.set(k, s);
    }
    return s;
  }

  private matches(p: number, cp: number): boolean {
    const code = this.grammar.code;
    const n = code[p + 1];
    let inside = false;
    for (let r = 0; r < n && !inside; r++) inside = cp >= code[p + 3 + 2 * r] && cp <= code[p + 4 + 2 * r];
    return inside !== (code[p + 2] === 1);
  }

  /** Could the class at p take some code point in [lo, hi]? */
  private overlaps(p: number, lo: number, hi: number): boolean {
    const code = this.grammar.code;
    const n = code[p + 1];
    const ranges: [number, number][] = [];
    for (let r = 0; r < n; r++) ranges.push([code[p + 3 + 2 * r], code[p + 4 + 2 * r]]);
    if (code[p + 2] === 0) return ranges.some(([a, b]) => a <= hi && b >= lo);
    // Negated: some point of [lo, hi] outside every range.
    ranges.sort((x, y) => x[0] - y[0]);
    let at = lo;
    for (const [a, b] of ranges) {
      if (a > at) break;
      at = Math.max(at, b + 1);
      if (at > hi) return false;
    }
    return at <= hi;
  }
}
