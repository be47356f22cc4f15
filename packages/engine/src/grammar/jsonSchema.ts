// JSON Schema to GBNF (the grammar then constrains decoding): every text the grammar accepts is JSON that the
// schema validates, so a constrained completion needs no retry. The layout follows llama.cpp's
// json-schema-to-grammar (bounded whitespace after each token, numbers of at most 16 digits a part, properties
// in the schema's order), written from the JSON Schema spec. A keyword that would constrain values but has no
// grammar here is a JsonSchemaError naming it, never skipped. Annotations (title, description, default, …) and
// `format`s other than date, time, date-time and uuid (an annotation in JSON Schema 2020-12 unless a validator
// opts in) do not constrain.
import { JsonSchemaError } from "./grammarErrors.js";

type Schema = boolean | { readonly [key: string]: unknown };

/** Keywords that describe and never constrain. */
const ANNOTATIONS = new Set([
  "$schema", "$id", "$comment", "$anchor", "title", "description", "default", "examples", "deprecated", "readOnly", "writeOnly",
  "contentEncoding", "contentMediaType", "$defs", "definitions", "strict", "name",
]);

/** The keywords each part of the compiler reads (all others that constrain are errors). */
const HANDLED = new Set([
  "type", "enum", "const", "anyOf", "oneOf", "allOf", "$ref", "nullable", "properties", "required", "additionalProperties",
  "items", "prefixItems", "minItems", "maxItems", "minLength", "maxLength", "pattern", "format", "minimum", "maximum",
  "exclusiveMinimum", "exclusiveMaximum",
]);

const PRIMITIVES: Readonly<Record<string, string>> = {
  ws: '| " " | "\\n" [ \\t]{0,20}',
  boolean: '("true" | "false") ws',
  null: '"null" ws',
  "integral-part": '[0] | [1-9] [0-9]{0,15}',
  "decimal-part": "[0-9]{1,16}",
  integer: '"-"? integral-part ws',
  number: '"-"? integral-part ("." decimal-part)? ([eE] [-+]? integral-part)? ws',
  char: '[^"\\\\\\x7F\\x00-\\x1F] | [\\\\] (["\\\\/bfnrt] | "u" [0-9a-fA-F]{4})',
  string: '"\\"" char* "\\"" ws',
  value: "object | array | string | number | boolean | null",
  object: '"{" ws (string ":" ws value ("," ws string ":" ws value)*)? "}" ws',
  array: '"[" ws (value ("," ws value)*)? "]" ws',
};

/** Which primitives each one uses, so only those needed are written. */
const PRIMITIVE_USES: Readonly<Record<string, readonly string[]>> = {
  integer: ["integral-part"], number: ["integral-part", "decimal-part"], string: ["char"],
  value: ["object", "array", "string", "number", "boolean", "null"], object: ["string", "value"], array: ["value"],
};

const DATE = '[0-9]{4} "-" ("0" [1-9] | "1" [0-2]) "-" ("0" [1-9] | [1-2] [0-9] | "3" [0-1])';
const TIME = '([01] [0-9] | "2" [0-3]) ":" [0-5] [0-9] ":" [0-5] [0-9] ("." [0-9]{3})? ("Z" | [+-] ([01] [0-9] | "2" [0-3]) ":" [0-5] [0-9])';
const FORMATS: Readonly<Record<string, string>> = {
  date: DATE,
  time: TIME,
  "date-time": `(${DATE}) "T" (${TIME})`,
  uuid: "[0-9a-f]{8} \"-\" [0-9a-f]{4} \"-\" [0-9a-f]{4} \"-\" [0-9a-f]{4} \"-\" [0-9a-f]{12}",
};

function wrap(rule: string): string {
  return `(${rule})`;
}

/** A GBNF literal for text: quotes, backslashes and control characters escaped. */
export function gbnfLiteral(text: string): string {
  let out = '"';
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (ch === '"' || ch === "\\") out += `\\${ch}`;
    else if (cp < 0x20 || cp === 0x7f) out += `\\x${cp.toString(16).padStart(2, "0")}`;
    else out += ch;
  }
  return `${out}"`;
}

/** The GBNF grammar (start rule `root`) of the JSON texts `schema` validates. */
export function jsonSchemaToGbnf(schema: unknown): string {
  return jsonSchemasToGbnf({ root: schema });
}

/**
 * Several schemas in one grammar: each becomes the rule of its key (sharing the JSON primitives), and `head`
 * (GBNF rules, usually a root that puts them in a syntax of its own, as tool calls do) comes first. A fault is
 * a JsonSchemaError whose pointer begins with the key's name.
 */
export function jsonSchemasToGbnf(schemas: Readonly<Record<string, unknown>>, head = ""): string {
  const compiler = new Compiler();
  for (const [name, schema] of Object.entries(schemas)) {
    if (typeof schema !== "boolean" && (typeof schema !== "object" || schema === null || Array.isArray(schema))) {
      throw new JsonSchemaError("a schema is an object or a boolean", name === "root" ? "" : `${name}`);
    }
    compiler.add(name, schema as Schema, name === "root" ? "" : name);
  }
  return compiler.grammar(head);
}

class Compiler {
  private readonly rules = new Map<string, string>();
  private readonly used = new Set<string>();
  /** $ref targets already given a rule, by root and reference (recursive schemas refer to themselves by name). */
  private readonly refs = new Map<string, string>();
  /** The schema being compiled, which its local references point into. */
  private root: Schema = true;
  private roots = 0;

  /** Compiles `schema` as the rule `name` (its JSON pointers prefixed by `at`). */
  add(name: string, schema: Schema, at: string): void {
    this.root = schema;
    this.roots++;
    this.rules.set(name, ""); // reserved: generated rule names avoid it
    this.rules.set(name, this.visit(schema, at));
  }

  grammar(head: string): string {
    const lines = head ? [head.trimEnd()] : [];
    for (const [name, rule] of this.rules) lines.push(`${name} ::= ${rule}`);
    const needed = new Set<string>();
    const need = (p: string) => {
      if (needed.has(p)) return;
      needed.add(p);
      for (const q of PRIMITIVE_USES[p] ?? []) need(q);
    };
    for (const p of this.used) need(p);
    need("ws");
    for (const p of Object.keys(PRIMITIVES)) if (needed.has(p)) lines.push(`${p} ::= ${PRIMITIVES[p]}`);
    return `${lines.join("\n")}\n`;
  }

  /** A GBNF expression for the values `schema` (at JSON pointer `at`) validates. */
  private visit(schema: Schema, at: string): string {
    if (schema === true) return this.use("value");
    if (schema === false) throw new JsonSchemaError("the schema `false` validates nothing, so no output could be valid", at);
    for (const key of Object.keys(schema)) {
      if (!HANDLED.has(key) && !ANNOTATIONS.has(key)) throw new JsonSchemaError(`keyword '${key}' is not supported in constrained output`, at);
    }
    const s = schema as Record<string, unknown>;
    if (s.nullable === true) {
      const { nullable: _, ...rest } = s;
      return `(${this.visit(rest, at)} | ${this.use("null")})`;
    }
    if (s.$ref !== undefined) return this.ref(s, at);
    if (s.const !== undefined) return `${gbnfLiteral(JSON.stringify(s.const))} ws`;
    if (s.enum !== undefined) {
      if (!Array.isArray(s.enum) || s.enum.length === 0) throw new JsonSchemaError("'enum' must be a non-empty array", at);
      return `(${s.enum.map((v) => gbnfLiteral(JSON.stringify(v))).join(" | ")}) ws`;
    }
    for (const key of ["anyOf", "oneOf"] as const) {
      if (s[key] !== undefined) {
        // oneOf as anyOf: what one alternative writes validates against it (alternatives that overlap are the
        // schema's own ambiguity).
        const alts = s[key];
        if (!Array.isArray(alts) || alts.length === 0) throw new JsonSchemaError(`'${key}' must be a non-empty array`, at);
        const { [key]: _, ...rest } = s;
        const base = Object.keys(rest).some((k) => HANDLED.has(k)) ? rest : undefined;
        return `(${alts.map((a, i) => this.visit(base ? this.merge(base, a as Schema, `${at}/${key}/${i}`) : (a as Schema), `${at}/${key}/${i}`)).join(" | ")})`;
      }
    }
    if (s.allOf !== undefined) {
      if (!Array.isArray(s.allOf)) throw new JsonSchemaError("'allOf' must be an array", at);
      const { allOf: _, ...rest } = s;
      return this.visit(s.allOf.reduce<Schema>((acc, part, i) => this.merge(acc, part as Schema, `${at}/allOf/${i}`), rest), at);
    }
    const type = s.type;
    if (Array.isArray(type)) {
      if (type.length === 0) throw new JsonSchemaError("'type' must not be an empty array", at);
      return `(${type.map((t) => this.visit({ ...s, type: t }, at)).join(" | ")})`;
    }
    switch (type) {
      case undefined: return this.untyped(s, at);
      case "string": return this.string(s, at);
      case "integer": return this.integer(s, at);
      case "number": return this.number(s, at);
      case "boolean": return this.use("boolean");
      case "null": return this.use("null");
      case "array": return this.array(s, at);
      case "object": return this.object(s, at);
      default: throw new JsonSchemaError(`unknown type ${JSON.stringify(type)}`, `${at}/type`);
    }
  }

  /** No type: what its other keywords imply, or any value. */
  private untyped(s: Record<string, unknown>, at: string): string {
    if (s.properties !== undefined || s.additionalProperties !== undefined || s.required !== undefined) return this.object(s, at);
    if (s.items !== undefined || s.prefixItems !== undefined) return this.array(s, at);
    const constraining = Object.keys(s).filter((k) => HANDLED.has(k));
    if (constraining.length > 0) throw new JsonSchemaError(`'${constraining[0]}' without a 'type' is not supported in constrained output`, at);
    return this.use("value");
  }

  private string(s: Record<string, unknown>, at: string): string {
    const min = this.count(s, "minLength", at) ?? 0, max = this.count(s, "maxLength", at);
    if (s.pattern !== undefined) {
      if (s.minLength !== undefined || s.maxLength !== undefined) throw new JsonSchemaError("'pattern' with 'minLength'/'maxLength' is not supported", at);
      if (typeof s.pattern !== "string") throw new JsonSchemaError("'pattern' must be a string", `${at}/pattern`);
      return `"\\"" ${regexToGbnf(s.pattern, `${at}/pattern`)} "\\"" ws`;
    }
    const format = typeof s.format === "string" ? FORMATS[s.format] : undefined;
    if (format) {
      if (s.minLength !== undefined || s.maxLength !== undefined) throw new JsonSchemaError("'format' with 'minLength'/'maxLength' is not supported", at);
      return `"\\"" ${wrap(format)} "\\"" ws`;
    }
    if (max !== undefined && max < min) throw new JsonSchemaError(`maxLength ${max} is less than minLength ${min}`, at);
    if (min === 0 && max === undefined) return this.use("string");
    this.use("char");
    return `"\\"" char{${min},${max ?? ""}} "\\"" ws`;
  }

  private integer(s: Record<string, unknown>, at: string): string {
    const bound = (key: string) => {
      const v = s[key];
      if (v === undefined) return undefined;
      if (typeof v !== "number" || !Number.isFinite(v)) throw new JsonSchemaError(`'${key}' must be a number`, `${at}/${key}`);
      return v;
    };
    let lo = bound("minimum"), hi = bound("maximum");
    const xlo = bound("exclusiveMinimum"), xhi = bound("exclusiveMaximum");
    if (lo !== undefined) lo = Math.ceil(lo);
    if (hi !== undefined) hi = Math.floor(hi);
    if (xlo !== undefined) lo = Math.max(lo ?? -Infinity, Math.floor(xlo) + 1);
    if (xhi !== undefined) hi = Math.min(hi ?? Infinity, Math.ceil(xhi) - 1);
    if (lo === undefined && hi === undefined) return this.use("integer");
    const LIMIT = 1e15; // 16 digits, the longest integral part the grammar writes
    if (Math.abs(lo ?? 0) > LIMIT || Math.abs(hi ?? 0) > LIMIT) throw new JsonSchemaError("integer bounds beyond ±10^15 are not supported", at);
    if (lo !== undefined && hi !== undefined && hi < lo) throw new JsonSchemaError(`no integer lies between the bounds ${lo} and ${hi}`, at);
    return `(${integerRange(lo ?? -(10 ** 16 - 1), hi ?? 10 ** 16 - 1)}) ws`;
  }

  private number(s: Record<string, unknown>, at: string): string {
    for (const key of ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"]) {
      if (s[key] !== undefined) throw new JsonSchemaError(`'${key}' on a number (not an integer) is not supported`, at);
    }
    return this.use("number");
  }

  private array(s: Record<string, unknown>, at: string): string {
    const min = this.count(s, "minItems", at) ?? 0, max = this.count(s, "maxItems", at);
    if (max !== undefined && max < min) throw new JsonSchemaError(`maxItems ${max} is less than minItems ${min}`, at);
    if (s.prefixItems !== undefined) {
      if (!Array.isArray(s.prefixItems)) throw new JsonSchemaError("'prefixItems' must be an array", `${at}/prefixItems`);
      if (s.items !== undefined && s.items !== false) throw new JsonSchemaError("'prefixItems' with 'items' other than false is not supported", at);
      if (s.minItems !== undefined || s.maxItems !== undefined) throw new JsonSchemaError("'prefixItems' with 'minItems'/'maxItems' is not supported", at);
      const parts = s.prefixItems.map((p, i) => this.visit(p as Schema, `${at}/prefixItems/${i}`));
      return parts.length === 0 ? '"[" ws "]" ws' : `"[" ws ${parts.join(' "," ws ')} "]" ws`;
    }
    const item = this.named(`${at}/items`, s.items === undefined ? true : (s.items as Schema));
    if (max === 0) return '"[" ws "]" ws';
    const more = max === undefined ? `("," ws ${item})*` : `("," ws ${item}){${Math.max(0, min - 1)},${max - 1}}`;
    if (min === 0) return `"[" ws (${item} ${more})? "]" ws`;
    const firstMore = max === undefined ? `("," ws ${item}){${min - 1},}` : more;
    return `"[" ws ${item} ${firstMore} "]" ws`;
  }

  private object(s: Record<string, unknown>, at: string): string {
    const props = (s.properties ?? {}) as Record<string, Schema>;
    if (typeof props !== "object" || props === null || Array.isArray(props)) throw new JsonSchemaError("'properties' must be an object", `${at}/properties`);
    const required = s.required ?? [];
    if (!Array.isArray(required) || required.some((r) => typeof r !== "string")) throw new JsonSchemaError("'required' must be an array of strings", `${at}/required`);
    const missing = required.find((r) => !Object.hasOwn(props, r));
    const extra = s.additionalProperties;
    const names = Object.keys(props);
    if (names.length === 0) {
      if (required.length > 0) throw new JsonSchemaError(`required property '${missing}' has no schema in 'properties'`, `${at}/required`);
      if (extra === false) return '"{" ws "}" ws';
      if (extra === undefined || extra === true) return this.use("object");
      // A map: any keys, each value as additionalProperties says.
      const value = this.named(`${at}/additionalProperties`, extra as Schema);
      const kv = `${this.use("string")} ":" ws ${value}`;
      return `"{" ws (${kv} ("," ws ${kv})*)? "}" ws`;
    }
    if (missing !== undefined) throw new JsonSchemaError(`required property '${missing}' has no schema in 'properties'`, `${at}/required`);
    // Known properties only, in the schema's order (extra ones are never needed for a valid object). first(i):
    // properties i.. with none written yet; rest(i): the same after one was (each then starts with ",").
    const kv = names.map((n) => `${gbnfLiteral(JSON.stringify(n))} ws ":" ws ${this.named(`${at}/properties/${pointerToken(n)}`, props[n])}`);
    const isRequired = names.map((n) => required.includes(n));
    const base = this.ruleName(at, "obj");
    const rest: string[] = [], first: string[] = [];
    for (let i = names.length - 1; i >= 0; i--) {
      const restNext = rest[0] ?? "", firstNext = first[0] ?? "";
      const r = isRequired[i] ? `"," ws ${kv[i]} ${restNext}` : `("," ws ${kv[i]})? ${restNext}`;
      const f = isRequired[i] ? `${kv[i]} ${restNext}` : `(${kv[i]} ${restNext} | ${firstNext || '""'})`;
      rest.unshift(this.define(`${base}-rest-${i}`, r.trim() || '""'));
      first.unshift(this.define(`${base}-first-${i}`, f.trim() || '""'));
    }
    return `"{" ws ${first[0]} "}" ws`;
  }

  /** A local $ref (#, #/$defs/…, #/definitions/…): one rule per target, so recursive schemas work. */
  private ref(s: Record<string, unknown>, at: string): string {
    const ref = s.$ref;
    if (typeof ref !== "string" || !ref.startsWith("#")) throw new JsonSchemaError(`only local references (#/…) are supported, got ${JSON.stringify(ref)}`, `${at}/$ref`);
    const others = Object.keys(s).filter((k) => k !== "$ref" && HANDLED.has(k));
    if (others.length > 0) throw new JsonSchemaError(`'$ref' beside '${others[0]}' is not supported`, at);
    const key = `${this.roots}${ref}`;
    let name = this.refs.get(key);
    if (name === undefined) {
      name = this.ruleName(`${this.roots > 1 ? `s${this.roots}-` : ""}${ref.slice(1)}`, "ref");
      this.refs.set(key, name);
      this.rules.set(name, ""); // reserved while its body is compiled (it may refer to itself)
      this.rules.set(name, this.visit(this.resolve(ref, at), ref.slice(1)));
    }
    return name;
  }

  private resolve(ref: string, at: string): Schema {
    let node: unknown = this.root;
    for (const token of ref.slice(1).split("/").slice(1)) {
      const key = decodeURIComponent(token).replaceAll("~1", "/").replaceAll("~0", "~");
      node = typeof node === "object" && node !== null && Object.hasOwn(node, key) ? (node as Record<string, unknown>)[key] : undefined;
      if (node === undefined) throw new JsonSchemaError(`reference ${ref} points at nothing in the schema`, `${at}/$ref`);
    }
    if (typeof node !== "boolean" && (typeof node !== "object" || node === null)) throw new JsonSchemaError(`reference ${ref} is not a schema`, `${at}/$ref`);
    return node as Schema;
  }

  /** allOf's parts (and anyOf's shared keywords) merged: objects' properties and required united, else equal keys. */
  private merge(a: Schema, b: Schema, at: string): Schema {
    if (a === true) return b;
    if (b === true) return a;
    if (a === false || b === false) throw new JsonSchemaError("the schema `false` validates nothing", at);
    const out: Record<string, unknown> = { ...a };
    for (const [k, v] of Object.entries(b)) {
      if (ANNOTATIONS.has(k)) continue;
      if (k === "properties") out.properties = { ...(out.properties as object), ...(v as object) };
      else if (k === "required") out.required = [...new Set([...((out.required as string[]) ?? []), ...(v as string[])])];
      else if (out[k] !== undefined && JSON.stringify(out[k]) !== JSON.stringify(v)) throw new JsonSchemaError(`combining two different '${k}' (allOf) is not supported`, at);
      else out[k] = v;
    }
    return out;
  }

  /** The expression for a sub-schema, as a rule of its own when it is more than a name. */
  private named(at: string, schema: Schema): string {
    const body = this.visit(schema, at);
    return /^[A-Za-z0-9-]+$/.test(body) ? body : this.define(this.ruleName(at, "item"), body);
  }

  private define(name: string, body: string): string {
    this.rules.set(name, body);
    return name;
  }

  private ruleName(at: string, fallback: string): string {
    const base = at.replace(/[^A-Za-z0-9]+/g, "-").replace(/^-|-$/g, "").toLowerCase() || fallback;
    let name = base;
    for (let k = 2; this.rules.has(name) || Object.hasOwn(PRIMITIVES, name) || name === "root"; k++) name = `${base}-${k}`;
    return name;
  }

  private use(primitive: string): string {
    this.used.add(primitive);
    return primitive;
  }

  private count(s: Record<string, unknown>, key: string, at: string): number | undefined {
    const v = s[key];
    if (v === undefined) return undefined;
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0) throw new JsonSchemaError(`'${key}' must be a whole number ≥ 0`, `${at}/${key}`);
    if (v > 10_000) throw new JsonSchemaError(`'${key}' above 10000 is not supported`, `${at}/${key}`);
    return v;
  }
}

const pointerToken = (key: string) => key.replaceAll("~", "~0").replaceAll("/", "~1");

/** GBNF alternatives for the integers in [lo, hi] written as JSON writes them (no leading zeros, "-" before). */
export function integerRange(lo: number, hi: number): string {
  const alts: string[] = [];
  if (lo < 0) {
    const a = Math.max(1, hi < 0 ? -hi : 1), b = -lo;
    for (const alt of naturalRange(a, b)) alts.push(`"-" ${alt}`);
  }
  if (hi >= 0) alts.push(...naturalRange(Math.max(0, lo), hi));
  return alts.join(" | ");
}

/** Digit patterns for the naturals in [lo, hi] (0 ≤ lo ≤ hi): one pattern per run of equal digit count and shape. */
function naturalRange(lo: number, hi: number): string[] {
  const out: string[] = [];
  if (lo === 0) {
    out.push('"0"');
    if (hi === 0) return out;
    lo = 1;
  }
  // Split at powers of ten so both ends have the same number of digits.
  for (let digits = String(lo).length; digits <= String(hi).length; digits++) {
    const a = Math.max(lo, 10 ** (digits - 1)), b = Math.min(hi, 10 ** digits - 1);
    if (a <= b) out.push(...sameLength(String(a), String(b)));
  }
  return out;
}

/** Patterns for the numbers from a to b, both of n digits: the classic split on the first differing digit. */
function sameLength(a: string, b: string): string[] {
  if (a.length === 0) return [""];
  if (a === b) return [gbnfLiteral(a)];
  if (a[0] === b[0]) return sameLength(a.slice(1), b.slice(1)).map((p) => `${gbnfLiteral(a[0])} ${p}`.trim());
  const n = a.length - 1;
  const any = n > 0 ? ` [0-9]{${n}}` : "";
  const out: string[] = [];
  const lowFull = /^0*$/.test(a.slice(1)), highFull = /^9*$/.test(b.slice(1));
  const from = lowFull ? Number(a[0]) : Number(a[0]) + 1, to = highFull ? Number(b[0]) : Number(b[0]) - 1;
  if (!lowFull) out.push(...sameLength(a.slice(1), "9".repeat(n)).map((p) => `${gbnfLiteral(a[0])} ${p}`.trim()));
  if (from <= to) out.push(`[${from}-${to}]${any}`);
  if (!highFull) out.push(...sameLength("0".repeat(n), b.slice(1)).map((p) => `${gbnfLiteral(b[0])} ${p}`.trim()));
  return out;
}

/**
 * A regular expression (JSON Schema `pattern`, ECMA-262 syntax) as GBNF over the characters of a JSON string's
 * content: literals, classes, `.`, groups, alternation and quantifiers; a leading ^ and trailing $ are dropped
 * (text matching the whole pattern matches it anywhere too). Characters that JSON escapes (" \ and control
 * characters) are written escaped; lookarounds and backreferences are refused.
 */
export function regexToGbnf(pattern: string, at: string): string {
  let p = 0;
  const fail = (why: string): never => {
    throw new JsonSchemaError(`pattern ${JSON.stringify(pattern)}: ${why}`, at);
  };
  const src = pattern.replace(/^\^/, "").replace(/(?<!\\)\$$/, "");
  const charLiteral = (ch: string) => (ch === '"' || ch === "\\" ? gbnfLiteral(`\\${ch}`) : ch.codePointAt(0)! < 0x20 ? fail("control characters are not supported") : gbnfLiteral(ch));
  /** A class (ranges of code points) minus what JSON must escape: those are left out (a subset stays valid). */
  const classOf = (ranges: Range[], negated: boolean) => {
    const safe = subtract(negated ? complement(ranges) : ranges, JSON_ESCAPED);
    if (safe.length === 0) fail("a class that holds only characters JSON escapes is not supported");
    return classText(safe);
  };
  const escapeClass: Record<string, Range[]> = { d: [[0x30, 0x39]], w: [[0x30, 0x39], [0x41, 0x5a], [0x5f, 0x5f], [0x61, 0x7a]], s: [[0x09, 0x0a], [0x0d, 0x0d], [0x20, 0x20]] };
  const escapedChar = (e: string) => (e === "n" ? 0x0a : e === "t" ? 0x09 : e === "r" ? 0x0d : e.codePointAt(0)!);
  const alternation = (): string => {
    const alts = [sequence()];
    while (src[p] === "|") {
      p++;
      alts.push(sequence());
    }
    return alts.length === 1 ? alts[0] : `(${alts.join(" | ")})`;
  };
  const sequence = (): string => {
    const items: string[] = [];
    while (p < src.length && src[p] !== "|" && src[p] !== ")") {
      let atom: string;
      const c = src[p];
      if (c === "(") {
        p++;
        if (src[p] === "?") {
          if (src[p + 1] === ":") p += 2;
          else fail("lookarounds and named groups are not supported");
        }
        atom = `(${alternation()})`;
        if (src[p] !== ")") fail("unbalanced parenthesis");
        p++;
      } else if (c === "[") {
        p++;
        const negated = src[p] === "^";
        if (negated) p++;
        const ranges: Range[] = [];
        const one = (): number | Range[] => {
          if (src[p] !== "\\") {
            const cp = src.codePointAt(p)!;
            p += cp > 0xffff ? 2 : 1;
            return cp;
          }
          const e = src[p + 1];
          p += 2;
          if (escapeClass[e]) return escapeClass[e];
          if (/[DWS]/.test(e)) return complement(escapeClass[e.toLowerCase()]);
          return escapedChar(e);
        };
        while (p < src.length && src[p] !== "]") {
          const lo = one();
          if (typeof lo !== "number") {
            ranges.push(...lo);
            continue;
          }
          if (src[p] === "-" && src[p + 1] !== "]" && p + 1 < src.length) {
            p++;
            const hi = one();
            if (typeof hi !== "number" || hi < lo) fail("a malformed range in a class");
            ranges.push([lo, hi as number]);
          } else {
            ranges.push([lo, lo]);
          }
        }
        if (src[p] !== "]") fail("unterminated class");
        p++;
        atom = classOf(ranges, negated);
      } else if (c === ".") {
        p++;
        atom = classOf([[0x0a, 0x0a]], true);
      } else if (c === "\\") {
        const e = src[p + 1];
        p += 2;
        if (escapeClass[e]) atom = classOf(escapeClass[e], false);
        else if (/[DWS]/.test(e)) atom = classOf(escapeClass[e.toLowerCase()], true);
        else if (/[1-9bBk]/.test(e)) atom = fail(`\\${e} (backreferences, word boundaries) is not supported`);
        else atom = charLiteral(String.fromCodePoint(escapedChar(e)));
      } else if (c === "^" || c === "$") {
        atom = fail("anchors inside the pattern are not supported");
      } else {
        const ch = String.fromCodePoint(src.codePointAt(p)!);
        p += ch.length;
        atom = charLiteral(ch);
      }
      const q = src[p];
      if (q === "*" || q === "+" || q === "?") {
        p++;
        atom = `${wrap(atom)}${q}`;
      } else if (q === "{") {
        const m = /^\{(\d+)(,(\d*))?\}/.exec(src.slice(p));
        if (!m) fail("malformed {m,n}");
        p += m![0].length;
        atom = `${wrap(atom)}{${m![1]}${m![2] === undefined ? "" : `,${m![3]}`}}`;
      }
      if (src[p] === "?" && (q === "*" || q === "+" || q === "?" || q === "{")) p++; // lazy: same language
      items.push(atom);
    }
    return items.length === 0 ? '""' : items.join(" ");
  };
  const out = alternation();
  if (p < src.length) fail(`unexpected '${src[p]}'`);
  return out;
}

type Range = [number, number];

/** What a JSON string cannot hold unescaped: control characters, the quote, the backslash, DEL. */
const JSON_ESCAPED: Range[] = [[0x00, 0x1f], [0x22, 0x22], [0x5c, 0x5c], [0x7f, 0x7f]];

/** Sorted, merged ranges. */
function normalise(ranges: readonly Range[]): Range[] {
  const sorted = ranges.map((r) => [r[0], r[1]] as Range).sort((a, b) => a[0] - b[0]);
  const out: Range[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
    else out.push(r);
  }
  return out;
}

function complement(ranges: readonly Range[]): Range[] {
  const out: Range[] = [];
  let at = 0;
  for (const [a, b] of normalise(ranges)) {
    if (a > at) out.push([at, a - 1]);
    at = b + 1;
  }
  if (at <= 0x10ffff) out.push([at, 0x10ffff]);
  return out;
}

function subtract(ranges: readonly Range[], remove: readonly Range[]): Range[] {
  const keep = complement(remove);
  const out: Range[] = [];
  for (const [a, b] of normalise(ranges)) for (const [c, d] of keep) if (c <= b && d >= a) out.push([Math.max(a, c), Math.min(b, d)]);
  return out;
}

/** A GBNF class for the ranges, characters that GBNF classes treat specially escaped. */
function classText(ranges: readonly Range[]): string {
  const ch = (cp: number) => (cp >= 0x20 && cp < 0x7f && !"]\\-^\"".includes(String.fromCodePoint(cp)) ? String.fromCodePoint(cp)
    : cp <= 0xffff ? `\\u${cp.toString(16).padStart(4, "0")}` : `\\U${cp.toString(16).padStart(8, "0")}`);
  return `[${ranges.map(([a, b]) => (a === b ? ch(a) : `${ch(a)}-${ch(b)}`)).join("")}]`;
}
