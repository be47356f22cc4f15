// GBNF grammars and the JSON-schema compiler, checked against references that do not share their code: regular
// expressions for the same languages, ajv for the schemas (every text the grammar completes must validate), and
// exact arithmetic for integer ranges. The matcher is fed UTF-8 bytes in arbitrary pieces, as tokens cut text.
import fc from "fast-check";
import { Ajv2020 } from "ajv/dist/2020.js";
import { describe, expect, it } from "vitest";
import { parseGbnf } from "../src/grammar/gbnf.js";
import { GrammarError, JsonSchemaError } from "../src/grammar/grammarErrors.js";
import { GrammarMatcher, type MatchState } from "../src/grammar/grammarMatcher.js";
import { integerRange, jsonSchemaToGbnf } from "../src/grammar/jsonSchema.js";

const utf8 = new TextEncoder();

/** "complete", "prefix" (more text could complete it) or "refused". */
function verdict(m: GrammarMatcher, text: string, pieces?: number[]): string {
  const bytes = utf8.encode(text);
  let s: MatchState | undefined = m.initial;
  let at = 0;
  for (const cut of [...(pieces ?? []).filter((c) => c > 0 && c < bytes.length).sort((a, b) => a - b), bytes.length]) {
    if (!s) break;
    s = m.advanceBytes(s, bytes.subarray(at, cut));
    at = cut;
  }
  return !s ? "refused" : m.canEnd(s) ? "complete" : "prefix";
}

const matcher = (gbnf: string) => new GrammarMatcher(parseGbnf(gbnf));

describe("GBNF", () => {
  it.each([
    ['root ::= "yes" | "no"', { yes: "complete", ye: "prefix", no: "complete", nope: "refused", "": "prefix" }],
    ['root ::= [a-c]{2,3} "!"?', { ab: "complete", abc: "complete", abcd: "refused", "ab!": "complete", a: "prefix" }],
    ['root ::= "(" root ")" | ""', { "": "complete", "(())": "complete", "(()": "prefix", ")": "refused" }],
    ['root ::= [^"]* "\\""', { 'abc"': "complete", 'a"b': "refused", '日本"': "complete" }],
    ["root ::= item+\nitem ::= [0-9] # a digit\n  | \"-\"", { "1-2": "complete", x: "refused" }],
    ['root ::= (\n  "a"\n  | "b"\n)  "c"', { ac: "complete", bc: "complete", c: "refused" }],
    ['root ::= . "\\x41\\u00e9\\U0001F600"', { "zAé😀": "complete", "zAe": "refused" }],
  ])("%j", (gbnf, cases) => {
    const m = matcher(gbnf);
    for (const [text, want] of Object.entries(cases)) expect(verdict(m, text), JSON.stringify(text)).toBe(want);
  });

  // The same languages as regular expressions: complete ⇔ the regex matches; refused ⇔ no extension can.
  const pairs: [string, RegExp][] = [
    ['root ::= ("ab" | [c-e]+)* "!"?', /^(ab|[c-e]+)*!?$/u],
    ['root ::= [a-b]{1,3} ([c] [a-b]{2,})?', /^[ab]{1,3}(c[ab]{2,})?$/u],
    ['root ::= ([^a] | "aa")* "a"', /^([^a]|aa)*a$/u],
  ];
  it.each(pairs)("%s accepts what %s matches, for any text in any byte pieces (property)", (gbnf, regex) => {
    const m = matcher(gbnf);
    const text = fc.array(fc.constantFrom("a", "b", "c", "d", "e", "!", "é", "日"), { maxLength: 10 }).map((xs) => xs.join(""));
    fc.assert(fc.property(text, fc.array(fc.nat(40), { maxLength: 5 }), (t, cuts) => {
      const v = verdict(m, t, cuts);
      expect(v === "complete", `${t} → ${v}`).toBe(regex.test(t));
      expect(v).toBe(verdict(m, t)); // how the bytes are cut never matters
      // A prefix of an accepted text is never refused.
      if (v === "complete") for (let k = 0; k < t.length; k++) expect(verdict(m, t.slice(0, k))).not.toBe("refused");
    }), { numRuns: 300 });
  });

  it("refuses bytes that are not UTF-8: overlong forms, surrogates, stray continuations, beyond U+10FFFF", () => {
    const m = matcher("root ::= [^\"]*");
    for (const bad of [[0xc0, 0x80], [0xe0, 0x80, 0x80], [0xed, 0xa0, 0x80], [0x80], [0xf4, 0x90, 0x80, 0x80], [0xf8]]) {
      expect(m.advanceBytes(m.initial, Uint8Array.from(bad)), bad.join(" ")).toBeUndefined();
    }
    const ok = m.advanceBytes(m.initial, Uint8Array.of(0xe6, 0x97));
    expect(ok?.partial?.need).toBe(1);
    expect(m.canEnd(ok!)).toBe(false); // half a character cannot end the text
  });

  it("keeps working when more states are met than it numbers at once (its tables start over)", () => {
    const m = matcher('root ::= [a-z]{0,6000} "!"'); // 6,000 distinct states, more than one numbering holds
    let s: MatchState | undefined = m.initial;
    for (let i = 0; i < 6000 && s; i++) s = m.advanceByte(s, 0x61);
    expect(s && m.canEnd(s)).toBe(false);
    expect(verdict(m, `${"a".repeat(6000)}!`)).toBe("complete");
    expect(m.canEnd(m.advanceByte(s!, 0x21)!)).toBe(true);
    expect(verdict(m, "ab!")).toBe("complete"); // the first states, from an older numbering, still advance
    expect(verdict(m, `${"a".repeat(6001)}!`)).toBe("refused");
  });

  it.each([
    ["root ::= foo", /line 1, column 10: rule 'foo' is used but never defined/],
    ['root ::= "abc', /unterminated string literal/],
    ["root ::= a\na ::= a \"x\" | \"y\"", /rule 'a' is left-recursive/],
    ["root ::= <|im_end|>", /token references/],
    ['root ::= "a"{3,2}', /bounds backwards/],
    ["a ::= \"x\"", /no 'root' rule/],
    ["root ::= [z-a]", /backwards/],
    ['root ::= "\\q"', /unknown escape/],
    ["root = \"x\"", /expected ::=/],
  ])("%j is a GrammarError", (gbnf, message) => {
    expect(() => parseGbnf(gbnf)).toThrow(GrammarError);
    expect(() => parseGbnf(gbnf)).toThrow(message);
  });
});

const PRINTABLE = Array.from({ length: 0x7f - 0x20 }, (_, i) => String.fromCharCode(0x20 + i));

/** A random text the grammar completes: random continuations from an alphabet, closing characters preferred late. */
function sample(m: GrammarMatcher, random: () => number, maxSteps = 400): string | undefined {
  const alphabet = [...PRINTABLE, "\n", "é", "日", "true", "false", "null", "u00e9"];
  let s = m.initial;
  let text = "";
  for (let i = 0; i < maxSteps; i++) {
    if (m.canEnd(s) && (m.isComplete(s) || random() < 0.15)) return text;
    const next = alphabet.map((a) => [a, m.advanceBytes(s, utf8.encode(a))] as const).filter(([, x]) => x);
    // The mask never takes every continuation away in a state the grammar reached.
    expect(next.length, `no continuation after ${JSON.stringify(text)}`).toBeGreaterThan(0);
    const closing = i > 40 ? next.filter(([a]) => /^["\]}\d]$/.test(a)) : [];
    const pool = closing.length > 0 && random() < 0.7 ? closing : next;
    const [a, state] = pool[Math.floor(random() * pool.length)];
    text += a;
    s = state!;
  }
  return undefined;
}

describe("JSON schema → grammar", () => {
  const ajv = new Ajv2020({ strict: false, validateFormats: false });
  const schemas: (object | boolean)[] = [
    { type: "object", properties: { name: { type: "string", maxLength: 8 }, age: { type: "integer", minimum: 0, maximum: 150 }, tags: { type: "array", items: { enum: ["a", "b"] }, maxItems: 3 } }, required: ["name", "age"] },
    { type: "object", properties: { a: { type: "boolean" }, b: { type: ["null", "number"] }, c: { const: { x: [1, "y"] } } } },
    { anyOf: [{ type: "string", pattern: "^[A-Z]{2}-\\d{3}$" }, { type: "integer", exclusiveMinimum: -5, maximum: 12 }] },
    { type: "object", properties: { when: { type: "string", format: "date-time" }, id: { type: "string", format: "uuid" } }, required: ["when", "id"], additionalProperties: false },
    { $defs: { node: { type: "object", properties: { v: { type: "integer" }, next: { anyOf: [{ $ref: "#/$defs/node" }, { type: "null" }] } }, required: ["v", "next"] } }, $ref: "#/$defs/node" },
    { type: "array", items: { type: "string", minLength: 1, maxLength: 3 }, minItems: 2, maxItems: 4 },
    { type: "object", additionalProperties: { type: "integer", minimum: 10 } },
    { type: "string", pattern: "^(ab|c[^x\"]{1,4})?\\.x{0,3}\"?$" },
    { type: "array", prefixItems: [{ type: "integer" }, { type: "string", maxLength: 2 }], items: false },
    { allOf: [{ type: "object", properties: { a: { type: "integer" } }, required: ["a"] }, { properties: { b: { type: "string", enum: ["x", "y"] } }, required: ["b"] }] },
    { type: "object", properties: { x: { type: "number", nullable: true }, "a/b~c": { type: "boolean" } }, required: ["x", "a/b~c"] },
    { oneOf: [{ type: "object", properties: { kind: { const: "circle" }, r: { type: "number" } }, required: ["kind", "r"] }, { type: "object", properties: { kind: { const: "square" } }, required: ["kind"] }] },
    { type: "object" },
    {},
    true,
  ];
  it.each(schemas.map((s) => [JSON.stringify(s), s] as const))("every text the grammar of %s completes is valid JSON the schema accepts", (_, schema) => {
    const m = matcher(jsonSchemaToGbnf(schema));
    const validate = ajv.compile(schema as object);
    let seed = 7;
    const random = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    let finished = 0;
    for (let k = 0; k < 150; k++) {
      const text = sample(m, random);
      if (text === undefined) continue;
      finished++;
      const value = JSON.parse(text);
      expect(validate(value), `${text} ${JSON.stringify(validate.errors)}`).toBe(true);
    }
    expect(finished).toBeGreaterThan(100);
  });

  // Random schemas built from the supported keywords: texts the grammar completes always validate.
  const leaf = fc.oneof(
    fc.record({ type: fc.constant("string"), maxLength: fc.integer({ min: 0, max: 5 }) }),
    fc.record({ type: fc.constant("integer"), minimum: fc.integer({ min: -50, max: 50 }), maximum: fc.integer({ min: 50, max: 999 }) }),
    fc.constant({ type: "number" }), fc.constant({ type: "boolean" }), fc.constant({ type: "null" }),
    fc.record({ enum: fc.uniqueArray(fc.oneof(fc.string({ maxLength: 4 }), fc.integer(), fc.boolean()), { minLength: 1, maxLength: 4 }) }),
  );
  const schemaArb = fc.letrec((tie) => ({
    node: fc.oneof({ depthSize: "small", withCrossShrink: true }, leaf, tie("object"), tie("array"), tie("anyOf")),
    object: fc.dictionary(fc.string({ minLength: 1, maxLength: 4 }), tie("node"), { maxKeys: 4 }).chain((properties) =>
      fc.subarray(Object.keys(properties)).map((required) => ({ type: "object", properties, required }))),
    array: fc.record({ type: fc.constant("array"), items: tie("node"), maxItems: fc.integer({ min: 0, max: 3 }) }),
    anyOf: fc.array(tie("node"), { minLength: 1, maxLength: 3 }).map((anyOf) => ({ anyOf })),
  })).node;
  it("random schemas: every completed text validates, and no reachable state is a dead end (property)", () => {
    fc.assert(fc.property(schemaArb, fc.integer(), (schema, seed0) => {
      const m = matcher(jsonSchemaToGbnf(schema));
      const validate = ajv.compile(schema as object);
      let seed = seed0;
      const random = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
      for (let k = 0; k < 10; k++) {
        const text = sample(m, random);
        if (text !== undefined) expect(validate(JSON.parse(text)), `${text} ${JSON.stringify(validate.errors)}`).toBe(true);
      }
    }), { numRuns: 150 });
  });

  it("integer ranges: a number is accepted exactly when it lies within the bounds (property)", () => {
    fc.assert(fc.property(fc.integer({ min: -3000, max: 3000 }), fc.integer({ min: 0, max: 4000 }), fc.array(fc.integer({ min: -9000, max: 9000 }), { maxLength: 30 }), (lo, width, probes) => {
      const hi = lo + width;
      const m = matcher(`root ::= ${integerRange(lo, hi)}`);
      for (const n of [lo, hi, lo - 1, hi + 1, ...probes]) expect(verdict(m, String(n)) === "complete", `${n} in [${lo}, ${hi}]`).toBe(n >= lo && n <= hi);
      expect(verdict(m, "-0")).not.toBe("complete");
      expect(verdict(m, "007")).not.toBe("complete");
    }), { numRuns: 300 });
  });

  it.each([
    [{ type: "string", format: "date", minLength: 2 }, "/", /'format' with 'minLength'/],
    [{ type: "object", properties: { a: { not: { type: "string" } } } }, "/properties/a", /keyword 'not' is not supported/],
    [{ type: "number", minimum: 0.5 }, "/", /'minimum' on a number/],
    [{ type: "array", uniqueItems: true }, "/", /keyword 'uniqueItems'/],
    [{ $ref: "https://example.com/s.json" }, "/$ref", /only local references/],
    [{ $ref: "#/$defs/missing" }, "/$ref", /points at nothing/],
    [{ type: "object", required: ["x"] }, "/required", /required property 'x' has no schema/],
    [{ type: "string", pattern: "(?=a)b" }, "/pattern", /lookarounds/],
    [{ type: "string", pattern: "(a)\\1" }, "/pattern", /backreferences/],
    [{ type: "widget" }, "/type", /unknown type "widget"/],
    [false, "/", /validates nothing/],
  ])("%j is a JsonSchemaError at %s", (schema, pointer, message) => {
    let error: unknown;
    try {
      jsonSchemaToGbnf(schema);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(JsonSchemaError);
    expect((error as JsonSchemaError).pointer || "/").toBe(pointer);
    expect((error as Error).message).toMatch(message);
  });
});
