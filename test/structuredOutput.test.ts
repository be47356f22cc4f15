// Structured output through engine-serve, as clients ask for it: the `openai` client's response_format
// (json_schema and json_object), llama-server's `json_schema` and `grammar` fields, the `ollama` client's
// `format` (a schema or "json"), and the Vercel AI SDK's generateObject / streamObject over
// @ai-sdk/openai-compatible. The models are random-weight or know no JSON (the bundled story model): whatever they prefer, the answer must parse and
// validate against its schema, streamed or not. Bad schemas are 400s naming the field, before any compute.
import * as fs from "node:fs";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { generateText, Output, streamText } from "ai";
import { Ajv2020 } from "ajv/dist/2020.js";
import { Ollama } from "ollama";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { readGguf, Tokenizer } from "@cpu-llm/engine";
import { DEMO_MODEL, fixture, fixturesPresent } from "./helpers/fixtures.js";
import { MAIN, serve, type Server } from "./helpers/serve.js";

const ajv = new Ajv2020({ strict: false });

/** Bounded everywhere (strings, arrays, numbers), so that even random weights finish well inside a slot. */
const PERSON = {
  type: "object",
  properties: {
    name: { type: "string", maxLength: 12 },
    age: { type: "integer", minimum: 0, maximum: 120 },
    role: { type: "string", enum: ["admin", "user", "guest"] },
    tags: { type: "array", items: { type: "string", maxLength: 5 }, maxItems: 3 },
  },
  required: ["name", "age", "role", "tags"],
  additionalProperties: false,
};

const models: [string, string, string[]][] = [["stories260K (bundled)", DEMO_MODEL, []]];
if (fixturesPresent()) {
  models.push(
    ["qwen2 (152K-token BPE vocabulary) + the Qwen2.5 template", fixture("models", "qwen2-q4_0.gguf"), ["--chat-template-file", fixture("templates", "Qwen-Qwen2.5-7B-Instruct.jinja")]],
    ["llama3 (128K-token BPE vocabulary) + the Llama 3.2 template", fixture("models", "llama3-q4_0.gguf"), ["--chat-template-file", fixture("templates", "meta-llama-Llama-3.2-3B-Instruct.jinja")]],
  );
}

describe.skipIf(!fs.existsSync(MAIN)).each(models)("structured output on %s", (_, model, flags) => {
  let server: Server;
  let openai: OpenAI;
  let ollama: Ollama;
  beforeAll(async () => {
    server = await serve(model, ...flags, "--parallel", "2");
    openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "unused", maxRetries: 0 });
    ollama = new Ollama({ host: server.url });
  });
  afterAll(async () => {
    await server?.stop();
  });
  const user = [{ role: "user" as const, content: "Describe a person as JSON." }];
  const valid = (text: string, schema: object = PERSON) => {
    const validate = ajv.compile(schema);
    const value = JSON.parse(text);
    expect(validate(value), `${text}: ${JSON.stringify(validate.errors)}`).toBe(true);
    return value;
  };

  it("openai: response_format json_schema, streamed and not, greedy and sampled", async () => {
    for (const sampling of [{ temperature: 0 }, { temperature: 1, seed: 1 }, { temperature: 1.3, seed: 2 }]) {
      const response_format = { type: "json_schema" as const, json_schema: { name: "person", strict: true, schema: PERSON } };
      const r = await openai.chat.completions.create({ model: "m", messages: user, response_format, ...sampling });
      expect(r.choices[0].finish_reason).toBe("stop");
      valid(r.choices[0].message.content!);
      const stream = await openai.chat.completions.create({ model: "m", messages: user, response_format, ...sampling, stream: true });
      let text = "";
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
      expect(text).toBe(r.choices[0].message.content);
    }
  });

  it("openai: response_format json_object gives a JSON object", async () => {
    // An object with no schema has unbounded strings, which neither random weights nor a story model (the
    // bundled one writes its story inside the first key) close soon: a strong bias towards the tokens '"' and
    // '}' lets it finish; the grammar still decides what is allowed.
    const tokenizer = Tokenizer.fromGguf(readGguf(model));
    const idOf = (text: string) => Array.from({ length: tokenizer.size }, (_, id) => id).find((id) => new TextDecoder().decode(tokenizer.tokenToPiece(id)) === text)!;
    const logit_bias = { [idOf('"')]: 30, [idOf("}")]: 30 };
    for (const seed of [1, 2, 3]) {
      const r = await openai.chat.completions.create({ model: "m", messages: user, response_format: { type: "json_object" }, temperature: 1, seed, logit_bias, max_tokens: 300 });
      expect(r.choices[0].finish_reason).toBe("stop");
      const value = JSON.parse(r.choices[0].message.content!);
      expect(typeof value === "object" && value !== null && !Array.isArray(value)).toBe(true);
    }
  });

  it("llama-server's json_schema and grammar fields on /v1/completions", async () => {
    const post = (body: object) => fetch(`${server.url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    const a = await (await post({ prompt: "Once upon a time", json_schema: PERSON, temperature: 0 })).json();
    valid(a.choices[0].text);
    const b = await (await post({ prompt: "Once upon a time", grammar: 'root ::= ("yes" | "no") "!"', temperature: 1, seed: 3 })).json();
    expect(b.choices[0].text).toMatch(/^(yes|no)!$/);
  });

  it("ollama: format as a schema and as \"json\", /api/chat and /api/generate, streamed and not", async () => {
    const chat = await ollama.chat({ model: "m", messages: user, format: PERSON, options: { temperature: 0 } });
    valid(chat.message.content);
    expect(chat.done_reason).toBe("stop");
    let streamed = "";
    for await (const part of await ollama.chat({ model: "m", messages: user, format: PERSON, options: { temperature: 0 }, stream: true })) streamed += part.message.content;
    expect(streamed).toBe(chat.message.content);
    const generated = await ollama.generate({ model: "m", prompt: "A person:", format: PERSON, options: { temperature: 1, seed: 5 } });
    valid(generated.response ?? "");
    const json = await ollama.generate({ model: "m", prompt: "A person:", format: "json", options: { temperature: 0, num_predict: 300 } });
    // JSON mode: an object, unless 300 tokens of it did not finish (unbounded strings, random weights).
    const response = json.response ?? "";
    if (json.done_reason === "stop") expect(typeof JSON.parse(response)).toBe("object");
    else expect(response.startsWith("{")).toBe(true);
  });

  it("the AI SDK: generateText and streamText with Output.object and a zod schema", async () => {
    (globalThis as { AI_SDK_LOG_WARNINGS?: boolean }).AI_SDK_LOG_WARNINGS = false;
    const schema = z.object({ name: z.string().max(12), age: z.number().int().min(0).max(120), role: z.enum(["admin", "user", "guest"]) });
    // supportsStructuredOutputs: the SDK sends the schema as response_format json_schema (without it, JSON mode
    // and the schema only in words, which no server can enforce).
    const provider = createOpenAICompatible({ name: "cpu-llm", baseURL: `${server.url}/v1`, supportsStructuredOutputs: true });
    const { output } = await generateText({ model: provider.chatModel("m"), output: Output.object({ schema }), prompt: "Describe a person.", temperature: 0, maxRetries: 0 });
    expect(schema.parse(output)).toEqual(output);
    const stream = streamText({ model: provider.chatModel("m"), output: Output.object({ schema }), prompt: "Describe a person.", temperature: 1, seed: 7, maxRetries: 0 });
    let partials = 0;
    for await (const _ of stream.partialOutputStream) partials++;
    expect(partials).toBeGreaterThan(1);
    expect(schema.parse(await stream.output)).toBeTruthy();
  });

  it("bad structured-output requests are 400s naming the field", async () => {
    const refused = async (p: Promise<unknown>, message: RegExp) => {
      const e = (await p.catch((x: unknown) => x)) as { status?: number; message: string };
      expect(e, String(message)).toMatchObject({ status: 400 });
      expect(e.message).toMatch(message);
    };
    await refused(openai.chat.completions.create({ model: "m", messages: user, response_format: { type: "json_schema", json_schema: { name: "x", schema: { type: "number", minimum: 0.5 } } } }),
      /response_format.json_schema.schema: JSON schema at '\/': 'minimum' on a number \(not an integer\) is not supported/);
    await refused(openai.chat.completions.create({ model: "m", messages: user, response_format: { type: "json_schema" } as never }), /needs json_schema.schema/);
    await refused(openai.chat.completions.create({ model: "m", messages: user, response_format: { type: "xml" } as never }), /response_format type 'xml' is not supported/);
    await refused(openai.chat.completions.create({ model: "m", messages: user, grammar: "root ::= x" } as never), /grammar: grammar error at line 1, column 10: rule 'x' is used but never defined/);
    await refused(openai.chat.completions.create({ model: "m", messages: user, grammar: 'root ::= "a"', json_schema: {} } as never), /grammar and json_schema cannot both constrain one answer/);
    const weather = { type: "function" as const, function: { name: "weather", parameters: { type: "object", properties: {} } } };
    await refused(openai.chat.completions.create({ model: "m", messages: user, tools: [weather], response_format: { type: "json_object" } }), /tools cannot be combined with response_format/);
    const both = await ollama.chat({ model: "m", messages: user, format: "json", tools: [weather] }).catch((x) => x);
    expect([both.status_code, both.error]).toEqual([400, "tools cannot be combined with format"]);
    const e = await ollama.chat({ model: "m", messages: user, format: { $ref: "#/nowhere" } }).catch((x) => x);
    expect(e).toMatchObject({ status_code: 400 });
    expect(e.error).toMatch(/format: JSON schema at '\/\$ref': reference #\/nowhere points at nothing/);
    // The server is unharmed.
    expect((await openai.chat.completions.create({ model: "m", messages: user, max_tokens: 2 })).choices).toHaveLength(1);
  });
});
