// Constrained decoding on real vocabularies: whatever the (random) weights prefer, a completion under a JSON
// schema is JSON the schema validates; the grammar stage draws exactly what sampling the masked logits draws;
// the lazy per-token checks and the trie-walk mask agree on every token.
import { Ajv2020 } from "ajv/dist/2020.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createSampler, GrammarDeadEndError, SamplerChain, type SamplerStage, GrammarError, GrammarStage, JsonSchemaError, jsonSchemaToGbnf, loadModel, parseGbnf, seededRandom,
  type CompletionOptions, type Model, type Tokenizer,
} from "@cpu-llm/engine";
import { DEMO_MODEL, fixture, fixturesPresent } from "./helpers/fixtures.js";

const ajv = new Ajv2020({ strict: false });

const PERSON = {
  type: "object",
  properties: {
    name: { type: "string", maxLength: 10 },
    age: { type: "integer", minimum: 0, maximum: 120 },
    role: { enum: ["admin", "user", "guest"] },
    tags: { type: "array", items: { type: "string", maxLength: 4 }, maxItems: 3 },
    active: { type: "boolean" },
  },
  required: ["name", "age", "role"],
};
const SHAPE = {
  anyOf: [
    { type: "object", properties: { kind: { const: "circle" }, radius: { type: "integer", minimum: 1, maximum: 99 } }, required: ["kind", "radius"] },
    { type: "object", properties: { kind: { const: "point" } }, required: ["kind"] },
  ],
};

async function complete(model: Model, prompt: string, options: CompletionOptions) {
  using context = model.createContext({ contextSize: 1024 });
  using sequence = context.getSequence();
  const gen = sequence.complete(prompt, options);
  let streamed = "";
  for (let step = await gen.next(); ; step = await gen.next()) {
    if (step.done) return { ...step.value, streamed };
    streamed += step.value.text;
  }
}

const models: [string, string][] = [["stories260K (SPM, 512 tokens)", DEMO_MODEL]];
if (fixturesPresent()) {
  models.push(["llama-spm (SPM, 32,000 tokens)", fixture("models", "llama-spm-q4_0.gguf")]);
  models.push(["qwen2 (BPE, 151,669 tokens)", fixture("models", "qwen2-q4_0.gguf")]);
}

describe.each(models)("constrained generation on %s", (_, file) => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(file, { threads: 1 });
  });
  afterAll(() => model?.close());

  it.each([
    ["greedy", { temperature: 0 }],
    ["sampled, seed 1", { temperature: 1, seed: 1 }],
    ["sampled, seed 2, no cuts", { temperature: 1.5, seed: 2, topK: 0, topP: 1, minP: 0 }],
    ["sampled, seed 3, penalties", { temperature: 0.8, seed: 3, repeatPenalty: 1.3, topK: 20 }],
  ])("a JSON schema's output validates (%s)", async (_, options) => {
    for (const schema of [PERSON, SHAPE]) {
      const r = await complete(model, "Once upon a time", { ...options, jsonSchema: schema, maxTokens: 400 });
      expect(r.finishReason, r.text).toBe("stop");
      expect(r.streamed).toBe(r.text);
      const validate = ajv.compile(schema);
      expect(validate(JSON.parse(r.text)), `${r.text}: ${JSON.stringify(validate.errors)}`).toBe(true);
    }
  });

  it("a GBNF grammar's output is in its language; the end is sampled only where the grammar can end", async () => {
    for (const seed of [1, 2, 3]) {
      const r = await complete(model, "Once upon a time", { temperature: 1, seed, grammar: 'root ::= ("yes" | "no") (", " [a-z]{1,5}){0,3}', maxTokens: 100 });
      expect(r.text).toMatch(/^(yes|no)(, [a-z]{1,5}){0,3}$/);
      expect(r.finishReason).toBe("stop");
    }
  });

  it("a grammar that cannot finish within maxTokens ends with finishReason 'length'", async () => {
    const r = await complete(model, "Once upon a time", { temperature: 0, grammar: 'root ::= "a"{50}', maxTokens: 5 });
    expect(r.finishReason).toBe("length");
    expect("a".repeat(50).startsWith(r.text)).toBe(true);
  });

  it("an invalid grammar or schema fails before any compute, naming the fault", async () => {
    await expect(complete(model, "x", { grammar: "root ::= nothing" })).rejects.toThrow(GrammarError);
    await expect(complete(model, "x", { jsonSchema: { type: "string", pattern: "(?!x)" } })).rejects.toThrow(JsonSchemaError);
    await expect(complete(model, "x", { grammar: 'root ::= "a"', jsonSchema: {} })).rejects.toThrow(/cannot both be set/);
  });

  it("draws what sampling the masked logits draws; the lazy checks agree with the trie mask (property over steps)", () => {
    const tokenizer = model.tokenizer;
    const grammar = parseGbnf(jsonSchemaToGbnf(PERSON));
    const random = seededRandom(11);
    const optionSets = [
      { temperature: 0 }, { temperature: 1, topK: 40, seed: 5 }, { temperature: 0.7, topK: 0, topP: 0.9, minP: 0, seed: 6 },
      { temperature: 0.8, seed: 7 }, { temperature: 1.2, topK: 0, topP: 0.9, minP: 0.1, seed: 8 }, { temperature: 1, topK: 5, topP: 0.5, minP: 0.2, seed: 9 },
      { temperature: 1, topK: 0, topP: 1, minP: 0.01, seed: 10 },
    ];
    for (const [n, options] of optionSets.entries()) {
      // Peaked rows (one token far ahead, as a trained model's) and flat ones (a random model's) in turn.
      const boost = n % 2 === 0 ? 8 : 2;
      const stage = new GrammarStage(grammar, tokenizer);
      const constrained = createSampler(options, stage);
      const plain = createSampler(options);
      // The same chains without their draw: the candidates the draw would see, compared whole.
      const last = (chain: SamplerChain) => {
        const seen: { ids: number[] } = { ids: [] };
        const record: SamplerStage = { name: "record", apply: (c) => { seen.ids = c.list().slice(); c.selected = seen.ids[0] ?? 0; } };
        return { chain: new SamplerChain([...chain.stages.slice(0, -1), record]), seen };
      };
      const [a, b] = [last(createSampler(options, new GrammarStage(grammar, tokenizer))), last(createSampler(options))];
      for (let step = 0; step < 25 && !stage.complete; step++) {
        // Logits that favour a random handful of tokens, as a trained model's do, over noise.
        const logits = Float32Array.from({ length: tokenizer.size }, () => random() * 4);
        for (let k = 0; k < 20; k++) logits[Math.floor(random() * tokenizer.size)] += boost * (k === 0 ? 2 : 1);
        const mask = stage.mask();
        checkMask(stage, mask, tokenizer, random);
        const masked = logits.map((x, i) => (mask[i] ? x : -Infinity));
        const token = constrained.sample(logits);
        expect(token).toBe(plain.sample(masked));
        a.chain.sample(logits);
        b.chain.sample(masked);
        expect(a.seen.ids).toEqual(b.seen.ids);
        expect(mask[token]).toBe(1);
        for (const chain of [constrained, plain, a.chain, b.chain]) chain.accept(token);
        if (tokenizer.isEog(token)) break;
      }
    }
  });
});

/** mask() and allows() agree: on every token of a small vocabulary, on 3,000 random ones of a large one. */
function checkMask(stage: GrammarStage, mask: Uint8Array, tokenizer: Tokenizer, random: () => number): void {
  const ids = tokenizer.size <= 4096 ? Array.from({ length: tokenizer.size }, (_, i) => i) : Array.from({ length: 3000 }, () => Math.floor(random() * tokenizer.size));
  for (const id of ids) expect(mask[id] === 1, `token ${id}`).toBe(stage.allows(id));
  expect(mask.some((x) => x === 1)).toBe(true);
}

it("a grammar no allowed token can continue is a GrammarDeadEndError, not output outside the grammar", async () => {
  const model = await loadModel(DEMO_MODEL, { threads: 1 });
  try {
    // Every token that could begin "b" banned by a bias: the grammar and the bias leave nothing to draw.
    const bans: Record<number, number> = {};
    for (let id = 0; id < model.tokenizer.size; id++) if (model.tokenizer.tokenToPiece(id)[0] === 0x62) bans[id] = -Infinity;
    expect(Object.keys(bans).length).toBeGreaterThan(1);
    for (const temperature of [0, 1]) {
      await expect(complete(model, "Once", { temperature, seed: 1, grammar: 'root ::= "b"', logitBias: bans })).rejects.toThrow(GrammarDeadEndError);
    }
  } finally {
    await model.close();
  }
});
