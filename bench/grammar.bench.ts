// `pnpm bench grammar`: what a JSON schema costs per generated token, on the 32K, 128K and 152K vocabularies of
// the fixture models (tokenizers only: no weights are read). A step is the sampler chain on a row of logits and
// the accepted token, with and without the grammar stage, alternated over ROUNDS. Two kinds of logits:
//   "trained": noise plus a strong preference for the next token of a valid answer (the answer is teacher-forced),
//              as a model that knows JSON gives: the lazy check of the few best tokens decides;
//   "random":   noise only, as a random-weight model gives: most best tokens are refused, so every step takes
//              the whole mask (one walk of the token trie).
// CPU_LLM_FIXTURES: the shared fixtures folder (default ../shared/fixtures).
import * as fs from "node:fs";
import * as path from "node:path";
import { createSampler, GrammarStage, jsonSchemaToGbnf, parseGbnf, readGguf, seededRandom, Tokenizer, type SamplingOptions } from "@cpu-llm/engine";

const FIXTURES = process.env.CPU_LLM_FIXTURES ?? path.resolve(import.meta.dirname, "../../shared/fixtures");
const ROUNDS = Number(process.env.CPU_LLM_BENCH_ROUNDS ?? 3);

const SCHEMA = {
  type: "object",
  properties: {
    name: { type: "string", maxLength: 40 },
    age: { type: "integer", minimum: 0, maximum: 150 },
    email: { type: "string" },
    roles: { type: "array", items: { enum: ["admin", "editor", "viewer"] }, maxItems: 3 },
    address: { type: "object", properties: { street: { type: "string" }, city: { type: "string" }, zip: { type: "string", pattern: "^[0-9]{5}$" } }, required: ["city"] },
    active: { type: "boolean" },
  },
  required: ["name", "age", "roles", "address", "active"],
};
const ANSWER = JSON.stringify({
  name: "Ada Lovelace, Countess", age: 36, email: "ada@example.org", roles: ["admin", "viewer"],
  address: { street: "12 St James's Square", city: "London 伦敦", zip: "10001" }, active: true,
}, null, 1);

const VOCABS: [string, string][] = [["32K (llama-spm)", "llama-spm-q4_0.gguf"], ["128K (llama3)", "llama3-q4_0.gguf"], ["152K (qwen2)", "qwen2-q4_0.gguf"]];
const CHAINS: [string, SamplingOptions][] = [["greedy", { temperature: 0 }], ["default sampling", { temperature: 0.8, seed: 1 }]];

/** ms per step over the answer's tokens: the chain samples (the answer's token is then accepted, teacher-forced). */
function time(tokenizer: Tokenizer, ids: number[], options: SamplingOptions, withGrammar: boolean, kind: "trained" | "random"): number {
  const grammar = parseGbnf(jsonSchemaToGbnf(SCHEMA));
  const stage = withGrammar ? new GrammarStage(grammar, tokenizer) : undefined;
  const chain = createSampler(options, stage);
  const random = seededRandom(3);
  const rows = ids.map((id) => {
    const l = Float32Array.from({ length: tokenizer.size }, () => random() * 6);
    if (kind === "trained") l[id] += 12;
    return l;
  });
  const t0 = performance.now();
  for (let i = 0; i < ids.length; i++) {
    chain.sample(rows[i]);
    chain.accept(ids[i]);
  }
  return (performance.now() - t0) / ids.length;
}

export async function run(): Promise<void> {
  console.log(`grammar: the schema of bench/grammar.bench.ts, ${ROUNDS} rounds alternated; ms per token (sampler chain + accept)`);
  for (const [label, file] of VOCABS) {
    const at = path.join(FIXTURES, "models", file);
    if (!fs.existsSync(at)) {
      console.log(`grammar: ${at} not found, ${label} skipped`);
      continue;
    }
    const tokenizer = Tokenizer.fromGguf(readGguf(at));
    const ids = longestMatch(tokenizer, ANSWER);
    let t = performance.now();
    new GrammarStage(parseGbnf(jsonSchemaToGbnf(SCHEMA)), tokenizer).mask(); // builds the token trie, once per tokenizer
    const trieMs = performance.now() - t;
    t = performance.now();
    parseGbnf(jsonSchemaToGbnf(SCHEMA));
    const compileMs = performance.now() - t;
    console.log(`${label}: ${ids.length} answer tokens; schema compiled in ${compileMs.toFixed(2)} ms; token trie built in ${trieMs.toFixed(0)} ms (once per tokenizer)`);
    for (const kind of ["trained", "random"] as const) {
      for (const [chainName, options] of CHAINS) {
        const plain: number[] = [], constrained: number[] = [];
        for (let round = 0; round < ROUNDS; round++) {
          plain.push(time(tokenizer, ids, options, false, kind));
          constrained.push(time(tokenizer, ids, options, true, kind));
        }
        const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[xs.length >> 1];
        const p = median(plain), c = median(constrained);
        console.log(JSON.stringify({ vocab: label, logits: kind, chain: chainName, plain_ms: +p.toFixed(3), grammar_ms: +c.toFixed(3), added_ms: +(c - p).toFixed(3) }));
      }
    }
  }
}

/**
 * The answer as tokens a model would write it in: at each point the longest token that spells the next bytes
 * (the tokenizer's own encoding would start with SPM's space prefix, which the grammar does not take).
 */
function longestMatch(tokenizer: Tokenizer, text: string): number[] {
  const bytes = new TextEncoder().encode(text);
  const pieces = Array.from({ length: tokenizer.size }, (_, id) => (tokenizer.isEog(id) ? new Uint8Array(0) : tokenizer.tokenToPiece(id)));
  const ids: number[] = [];
  for (let at = 0; at < bytes.length;) {
    let best = -1;
    for (let id = 0; id < pieces.length; id++) {
      const p = pieces[id];
      if (p.length === 0 || (best >= 0 && p.length <= pieces[best].length) || at + p.length > bytes.length) continue;
      let k = 0;
      while (k < p.length && p[k] === bytes[at + k]) k++;
      if (k === p.length) best = id;
    }
    if (best < 0) throw new Error(`no token spells byte ${at} of the answer`);
    ids.push(best);
    at += pieces[best].length;
  }
  return ids;
}
