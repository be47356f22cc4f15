// GBNF, the grammar notation of llama.cpp (grammars/README.md), parsed into a Grammar: rules of alternatives,
// each a flat run of elements, so that users' grammars written for llama-server work here unchanged.
//   root ::= "yes" | "no"        rule definitions; a rule ends at a newline outside parentheses
//   "text" [a-z] [^"\\] .        literals, character classes (ranges, negation), any character
//   (…)  x*  x+  x?  x{m}  x{m,}  x{m,n}   groups and repetition; # comments
// Escapes in literals and classes: \n \r \t \\ \" \[ \] \- \xHH \uHHHH \UHHHHHHHH. Token references (<|…|>,
// llama.cpp's newer extension) are refused with a clear error, as is left recursion, which no matcher ends.
import { GrammarError } from "./grammarErrors.js";

/** Element codes in Grammar.code. An alternative is a run of elements ended by END. */
export const END = 0;
/** REF ruleId: match the rule there. */
export const REF = 1;
/** CHARS n negated lo0 hi0 … lo(n-1) hi(n-1): one code point in (or, negated, outside) the inclusive ranges. */
export const CHARS = 2;

export interface Grammar {
  /** Elements of every alternative, back to back (see END, REF, CHARS). */
  readonly code: Int32Array;
  /** For each rule id, the offsets in `code` where its alternatives start. */
  readonly rules: readonly (readonly number[])[];
  /** Rule names by id (generated rules for groups and repetitions are named after their rule: `item-2`). */
  readonly names: readonly string[];
  readonly root: number;
}

type Item =
  | { kind: "chars"; ranges: [number, number][]; negated: boolean }
  | { kind: "ref"; name: string; at: number }
  | { kind: "group"; alts: Item[][] }
  | { kind: "repeat"; item: Item; min: number; max: number };

const MAX_REPEAT = 10_000;

/** Parses GBNF text; the start rule is `root` unless named. GrammarError (with line and column) on any fault. */
export function parseGbnf(text: string, start = "root"): Grammar {
  const parsed = new Parser(text).grammar();
  return compile(parsed, start, text);
}

class Parser {
  private pos = 0;
  /** Rules in definition order; a name defined twice gets the later alternatives added (as llama.cpp does). */
  readonly rules = new Map<string, Item[][]>();

  constructor(private readonly src: string) {}

  grammar(): Map<string, Item[][]> {
    this.space(true);
    while (this.pos < this.src.length) {
      const name = this.name();
      this.space(false);
      if (!this.src.startsWith("::=", this.pos)) this.fail(`expected ::= after rule name '${name}'`);
      this.pos += 3;
      this.space(true);
      const alts = this.alternates(false);
      this.rules.set(name, [...(this.rules.get(name) ?? []), ...alts]);
      this.space(false);
      if (this.pos < this.src.length && this.src[this.pos] !== "\n" && this.src[this.pos] !== "\r") this.fail(`unexpected '${this.src[this.pos]}' at the end of rule '${name}'`);
      this.space(true);
    }
    if (this.rules.size === 0) this.fail("the grammar has no rules");
    return this.rules;
  }

  private alternates(nested: boolean): Item[][] {
    const alts = [this.sequence(nested)];
    for (;;) {
      // An alternative may also begin a line of its own ("\n  | x"), which llama.cpp's parser refuses.
      if (!nested && this.src[this.pos] !== "|") {
        const at = this.pos;
        this.space(true);
        if (this.src[this.pos] !== "|") {
          this.pos = at;
          break;
        }
      }
      if (this.src[this.pos] !== "|") break;
      this.pos++;
      this.space(true);
      alts.push(this.sequence(nested));
    }
    return alts;
  }

  private sequence(nested: boolean): Item[] {
    const items: Item[] = [];
    for (;;) {
      const c = this.src[this.pos];
      if (c === undefined || c === "|" || c === ")" || c === "\n" || c === "\r") break;
      if (c === '"') {
        this.pos++;
        const chars: Item[] = [];
        while (this.src[this.pos] !== '"') {
          if (this.pos >= this.src.length) this.fail("unterminated string literal");
          const cp = this.char();
          chars.push({ kind: "chars", ranges: [[cp, cp]], negated: false });
        }
        this.pos++;
        // A literal is one item for repetition ("ab"* repeats "ab").
        items.push(chars.length === 1 ? chars[0] : { kind: "group", alts: [chars] });
      } else if (c === "[") {
        this.pos++;
        const negated = this.src[this.pos] === "^";
        if (negated) this.pos++;
        const ranges: [number, number][] = [];
        while (this.src[this.pos] !== "]") {
          if (this.pos >= this.src.length) this.fail("unterminated character class");
          const lo = this.char();
          let hi = lo;
          if (this.src[this.pos] === "-" && this.src[this.pos + 1] !== "]" && this.pos + 1 < this.src.length) {
            this.pos++;
            hi = this.char();
            if (hi < lo) this.fail(`character range ${String.fromCodePoint(lo)}-${String.fromCodePoint(hi)} is backwards`);
          }
          ranges.push([lo, hi]);
        }
        this.pos++;
        items.push({ kind: "chars", ranges, negated });
      } else if (c === ".") {
        this.pos++;
        items.push({ kind: "chars", ranges: [[0, 0x10ffff]], negated: false });
      } else if (c === "(") {
        this.pos++;
        this.space(true);
        const alts = this.alternates(true);
        if (this.src[this.pos] !== ")") this.fail("expected ')'");
        this.pos++;
        items.push({ kind: "group", alts });
      } else if (c === "*" || c === "+" || c === "?" || c === "{") {
        const last = items.pop();
        if (!last) this.fail(`'${c}' has nothing before it to repeat`);
        items.push(this.repetition(last));
      } else if (c === "<" || c === "!") {
        this.fail("token references (<…>, !<…>) are not supported: write the token's text as a literal");
      } else if (isWordChar(c)) {
        const at = this.pos;
        const name = this.name();
        items.push({ kind: "ref", name, at });
      } else {
        this.fail(`unexpected '${c}'`);
      }
      this.space(nested);
    }
    return items;
  }

  private repetition(item: Item): Item {
    const c = this.src[this.pos++];
    if (c === "*") return { kind: "repeat", item, min: 0, max: Infinity };
    if (c === "+") return { kind: "repeat", item, min: 1, max: Infinity };
    if (c === "?") return { kind: "repeat", item, min: 0, max: 1 };
    this.space(true);
    const min = this.integer();
    this.space(true);
    let max = min;
    if (this.src[this.pos] === ",") {
      this.pos++;
      this.space(true);
      max = /[0-9]/.test(this.src[this.pos] ?? "") ? this.integer() : Infinity;
      this.space(true);
    }
    if (this.src[this.pos] !== "}") this.fail("expected '}' to end a repetition");
    this.pos++;
    if (max < min) this.fail(`repetition {${min},${max}} has its bounds backwards`);
    if (max !== Infinity && max > MAX_REPEAT) this.fail(`repetition bound ${max} is more than ${MAX_REPEAT}`);
    return { kind: "repeat", item, min, max };
  }

  private integer(): number {
    const m = /^[0-9]+/.exec(this.src.slice(this.pos, this.pos + 12));
    if (!m) this.fail("expected a number in a repetition");
    this.pos += m[0].length;
    const n = Number(m[0]);
    if (n > MAX_REPEAT) this.fail(`repetition bound ${n} is more than ${MAX_REPEAT}`);
    return n;
  }

  private name(): string {
    const from = this.pos;
    while (this.pos < this.src.length && isWordChar(this.src[this.pos])) this.pos++;
    if (this.pos === from) this.fail(`expected a rule name, found '${this.src[this.pos] ?? "the end"}'`);
    return this.src.slice(from, this.pos);
  }

  /** One code point of a literal or class, escapes decoded. */
  private char(): number {
    const c = this.src.codePointAt(this.pos)!;
    if (c !== 0x5c) {
      this.pos += c > 0xffff ? 2 : 1;
      return c;
    }
    const e = this.src[this.pos + 1];
    this.pos += 2;
    const hex = (n: number) => {
      const digits = this.src.slice(this.pos, this.pos + n);
      if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(digits)) this.fail(`\\${e} needs ${n} hex digits`);
      this.pos += n;
      const cp = parseInt(digits, 16);
      if (cp > 0x10ffff) this.fail(`\\${e}${digits} is beyond U+10FFFF`);
      return cp;
    };
    switch (e) {
      case "x": return hex(2);
      case "u": return hex(4);
      case "U": return hex(8);
      case "n": return 0x0a;
      case "r": return 0x0d;
      case "t": return 0x09;
      case "\\": case '"': case "[": case "]": case "-": case "^": case "/": return e.codePointAt(0)!;
      default: this.pos -= 2; return this.fail(`unknown escape '\\${e ?? ""}'`);
    }
  }

  /** Spaces, tabs and comments; newlines too when `newlines` (inside parentheses, between rules). */
  private space(newlines: boolean): void {
    for (;;) {
      const c = this.src[this.pos];
      if (c === " " || c === "\t") this.pos++;
      else if (c === "#") while (this.pos < this.src.length && this.src[this.pos] !== "\n") this.pos++;
      else if (newlines && (c === "\n" || c === "\r")) this.pos++;
      else return;
    }
  }

  fail(message: string): never {
    throw new GrammarError(message, this.src, this.pos);
  }
}

const isWordChar = (c: string | undefined) => c !== undefined && /[A-Za-z0-9_-]/.test(c);

/** Rules to flat code: groups and repetitions become generated rules, references become rule ids. */
function compile(parsed: Map<string, Item[][]>, start: string, src: string): Grammar {
  const names = [...parsed.keys()];
  const ids = new Map(names.map((n, i) => [n, i] as const));
  const bodies: Item[][][] = names.map((n) => parsed.get(n)!);
  if (!ids.has(start)) throw new GrammarError(`the grammar has no '${start}' rule`, src, 0);
  const newRule = (base: string, alts: Item[][]) => {
    const name = `${base}-${names.length}`;
    ids.set(name, names.length);
    names.push(name);
    bodies.push(alts);
    return { kind: "ref", name, at: -1 } as Item;
  };
  // Lower groups and repetitions into rules of plain char and ref items (bodies grows as it goes).
  const lower = (base: string, item: Item): Item[] => {
    if (item.kind === "chars" || item.kind === "ref") return [item];
    if (item.kind === "group") {
      if (item.alts.length === 1) return item.alts[0].flatMap((i) => lower(base, i));
      return [newRule(base, item.alts.map((alt) => alt.flatMap((i) => lower(base, i))))];
    }
    const body = lower(base, item.item);
    const out: Item[] = [];
    for (let k = 0; k < item.min; k++) out.push(...body);
    if (item.max === Infinity) {
      // R ::= body R | ε
      const name = `${base}-${names.length}`;
      const self: Item = { kind: "ref", name, at: -1 };
      ids.set(name, names.length);
      names.push(name);
      bodies.push([[...body, self], []]);
      out.push(self);
    } else if (item.max > item.min) {
      // Nested optionals: R1 ::= body R2 | ε … Rn ::= body | ε
      let tail: Item[] = [];
      for (let k = item.max - item.min; k > 0; k--) tail = [newRule(base, [[...body, ...tail], []])];
      out.push(...tail);
    }
    return out;
  };
  for (let r = 0; r < bodies.length; r++) bodies[r] = bodies[r].map((alt) => alt.flatMap((i) => lower(names[r].replace(/-\d+$/, ""), i)));

  const code: number[] = [];
  const rules: number[][] = [];
  for (let r = 0; r < bodies.length; r++) {
    rules.push([]);
    for (const alt of bodies[r]) {
      rules[r].push(code.length);
      for (const item of alt) {
        if (item.kind === "ref") {
          const id = ids.get(item.name);
          if (id === undefined) throw new GrammarError(`rule '${item.name}' is used but never defined`, src, Math.max(0, item.at));
          code.push(REF, id);
        } else if (item.kind === "chars") {
          code.push(CHARS, item.ranges.length, item.negated ? 1 : 0, ...item.ranges.flat());
        }
      }
      code.push(END);
    }
  }
  const grammar: Grammar = { code: Int32Array.from(code), rules, names, root: ids.get(start)! };
  checkLeftRecursion(grammar, src);
  return grammar;
}

/** A rule that can reach itself before matching any character never lets a matcher stop expanding it. */
function checkLeftRecursion(g: Grammar, src: string): void {
  const nullable = new Array<boolean>(g.rules.length).fill(false);
  const altNullable = (start: number): boolean => {
    for (let p = start; g.code[p] !== END; p = next(g, p)) if (g.code[p] === CHARS || !nullable[g.code[p + 1]]) return false;
    return true;
  };
  for (let changed = true; changed;) {
    changed = false;
    g.rules.forEach((alts, r) => {
      if (!nullable[r] && alts.some(altNullable)) changed = nullable[r] = true;
    });
  }
  // Rules each rule can begin with (through nullable prefixes).
  const leftmost = g.rules.map((alts) => {
    const out = new Set<number>();
    for (const start of alts) {
      for (let p = start; g.code[p] === REF; p = next(g, p)) {
        out.add(g.code[p + 1]);
        if (!nullable[g.code[p + 1]]) break;
      }
    }
    return out;
  });
  for (let r = 0; r < g.rules.length; r++) {
    const seen = new Set<number>();
    const todo = [...leftmost[r]];
    while (todo.length) {
      const x = todo.pop()!;
      if (x === r) throw new GrammarError(`rule '${g.names[r]}' is left-recursive (it can begin with itself), which GBNF matching cannot end`, src, 0);
      if (seen.has(x)) continue;
      seen.add(x);
      todo.push(...leftmost[x]);
    }
  }
}

/** Offset of the element after the one at p. */
export function next(g: Grammar, p: number): number {
  const op = g.code[p];
  return op === REF ? p + 2 : op === CHARS ? p + 3 + 2 * g.code[p + 1] : p + 1;
}
