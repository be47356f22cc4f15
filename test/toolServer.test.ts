// Tool calling through engine-serve with the clients agents use: the `openai` client (tools, tool_choice,
// streamed deltas, a tool result sent back), the `ollama` client (tools in /api/chat, arguments as objects) and
// the Vercel AI SDK (generateText / streamText with tools over @ai-sdk/openai-compatible). Random-weight models
// served with a template of their family (--chat-template-file), and the bundled model with its built-in
// template (the generic envelope): every call names a given tool and its arguments validate.
import * as fs from "node:fs";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { generateText, streamText, tool } from "ai";
import { Ajv2020 } from "ajv/dist/2020.js";
import { Ollama } from "ollama";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { DEMO_MODEL, fixture, fixturesPresent } from "./helpers/fixtures.js";
import { MAIN, serve, type Server } from "./helpers/serve.js";
import { TOOLS } from "./helpers/tools.js";

const ajv = new Ajv2020({ strict: false });
// The tools as the openai client types them (the engine's ToolDefinition has the same shape, parameters unknown).
const OPENAI_TOOLS = TOOLS as OpenAI.Chat.Completions.ChatCompletionTool[];
const OLLAMA_TOOLS = TOOLS as never[];
const ASK = [{ role: "system" as const, content: "You are a helpful assistant with tools." }, { role: "user" as const, content: "What's the weather in Paris, in celsius?" }];

function expectValid(calls: readonly { function: { name: string; arguments: string | object } }[]) {
  expect(calls.length).toBeGreaterThan(0);
  for (const c of calls) {
    const t = TOOLS.find((x) => x.function.name === c.function.name);
    expect(t, c.function.name).toBeDefined();
    const args = typeof c.function.arguments === "string" ? JSON.parse(c.function.arguments) : c.function.arguments;
    const validate = ajv.compile(t!.function.parameters as object);
    expect(validate(args), `${JSON.stringify(args)} ${JSON.stringify(validate.errors)}`).toBe(true);
  }
}

const servers: [string, string[]][] = [["the bundled model (generic envelope)", [DEMO_MODEL]]];
if (fixturesPresent()) {
  servers.push(
    ["qwen2 + the Qwen2.5 template", [fixture("models", "qwen2-q4_0.gguf"), "--chat-template-file", fixture("templates", "Qwen-Qwen2.5-7B-Instruct.jinja"), "--jinja"]],
    ["llama3 + the Llama 3.2 template", [fixture("models", "llama3-q4_0.gguf"), "--chat-template-file", fixture("templates", "meta-llama-Llama-3.2-3B-Instruct.jinja")]],
  );
}

describe.skipIf(!fs.existsSync(MAIN)).each(servers)("tool calls through engine-serve: %s", (_, args) => {
  let server: Server;
  let openai: OpenAI;
  beforeAll(async () => {
    server = await serve(...args, "--parallel", "2", "--ctx-size", "2048");
    openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "unused", maxRetries: 0 });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("openai: tool_choice required and named give tool_calls, finish_reason tool_calls, streamed as indexed deltas with id and name", async () => {
    for (const tool_choice of ["required" as const, { type: "function" as const, function: { name: "search" } }]) {
      const r = await openai.chat.completions.create({ model: "m", messages: ASK, tools: OPENAI_TOOLS, tool_choice, temperature: 0, max_tokens: 400 });
      const choice = r.choices[0];
      expect(choice.finish_reason).toBe("tool_calls");
      const calls = choice.message.tool_calls!.map((c) => c as { id: string; type: string; function: { name: string; arguments: string } });
      expectValid(calls);
      for (const c of calls) expect([typeof c.id, c.type]).toEqual(["string", "function"]);
      if (typeof tool_choice === "object") expect(calls.every((c) => c.function.name === "search")).toBe(true);

      const stream = await openai.chat.completions.create({ model: "m", messages: ASK, tools: OPENAI_TOOLS, tool_choice, temperature: 0, max_tokens: 400, stream: true });
      const streamed: { id?: string; name?: string; arguments: string }[] = [];
      let finish: string | null = null;
      for await (const chunk of stream) {
        for (const d of chunk.choices[0]?.delta?.tool_calls ?? []) {
          if (!streamed[d.index]) {
            expect(typeof d.id, "the first delta of a call carries its id").toBe("string");
            expect(typeof d.function?.name, "and its name").toBe("string");
            streamed[d.index] = { id: d.id, name: d.function!.name, arguments: "" };
          }
          streamed[d.index].arguments += d.function?.arguments ?? "";
        }
        finish = chunk.choices[0]?.finish_reason ?? finish;
      }
      expect(finish).toBe("tool_calls");
      expect(streamed.map((c) => ({ name: c.name, arguments: c.arguments }))).toEqual(calls.map((c) => c.function));
    }
  });

  it("openai: the tool's result sent back continues the conversation (assistant tool_calls + role tool)", async () => {
    const first = await openai.chat.completions.create({ model: "m", messages: ASK, tools: OPENAI_TOOLS, tool_choice: "required", temperature: 1, seed: 2, max_tokens: 400 });
    const call = first.choices[0].message.tool_calls![0] as { id: string; type: "function"; function: { name: string; arguments: string } };
    const next = await openai.chat.completions.create({
      model: "m", tools: OPENAI_TOOLS, temperature: 0, max_tokens: 16,
      messages: [...ASK, { role: "assistant", content: null, tool_calls: [call] }, { role: "tool", tool_call_id: call.id, content: '{"temperature": 18}' }],
    });
    expect(["stop", "length", "tool_calls"]).toContain(next.choices[0].finish_reason);
    if (next.choices[0].message.tool_calls) expectValid(next.choices[0].message.tool_calls as never);
  });

  it("ollama: tools in /api/chat; calls come back with arguments as objects, streamed and not", async () => {
    const ollama = new Ollama({ host: server.url });
    let calls = 0;
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const r = await ollama.chat({ model: "m", messages: ASK, tools: OLLAMA_TOOLS, options: { temperature: 1, seed, num_predict: 700 } });
      if (!r.message.tool_calls?.length) continue;
      calls++;
      expectValid(r.message.tool_calls as never);
      for (const c of r.message.tool_calls) expect(typeof c.function.arguments).toBe("object");
      let streamed: unknown;
      for await (const part of await ollama.chat({ model: "m", messages: ASK, tools: OLLAMA_TOOLS, options: { temperature: 1, seed, num_predict: 700 }, stream: true })) {
        streamed ??= part.message.tool_calls;
      }
      expect(streamed).toEqual(r.message.tool_calls);
    }
    // With auto (ollama has no tool_choice) a random model calls only sometimes; the generic envelope always
    // offers the call, so there at least one of the seeds must call.
    if (args[0] === DEMO_MODEL) expect(calls).toBeGreaterThan(0);
    // ollama's tool result message continues a conversation too.
    const next = await ollama.chat({
      model: "m", tools: OLLAMA_TOOLS, options: { temperature: 0, num_predict: 8 },
      messages: [...ASK, { role: "assistant", content: "", tool_calls: [{ function: { name: "get_weather", arguments: { city: "Paris", unit: "celsius" } } }] }, { role: "tool", content: "18 C", tool_name: "get_weather" } as never],
    });
    expect(next.done).toBe(true);
  });

  it("the AI SDK: generateText and streamText with zod tools and toolChoice required", async () => {
    (globalThis as { AI_SDK_LOG_WARNINGS?: boolean }).AI_SDK_LOG_WARNINGS = false;
    const provider = createOpenAICompatible({ name: "cpu-llm", baseURL: `${server.url}/v1` });
    const schemas = { get_weather: z.object({ city: z.string().max(12), unit: z.enum(["celsius", "fahrenheit"]) }), search: z.object({ query: z.string().max(16) }) };
    const tools = {
      get_weather: tool({ description: "Get the current weather for a city.", inputSchema: schemas.get_weather }),
      search: tool({ description: "Search the web.", inputSchema: schemas.search }),
    };
    const r = await generateText({ model: provider.chatModel("m"), tools, toolChoice: "required", prompt: "What's the weather in Paris?", temperature: 0, maxRetries: 0, maxOutputTokens: 400 });
    expect(r.toolCalls.length).toBeGreaterThan(0);
    for (const c of r.toolCalls) expect(schemas[c.toolName as keyof typeof schemas].parse(c.input)).toEqual(c.input);
    const s = streamText({ model: provider.chatModel("m"), tools, toolChoice: { type: "tool", toolName: "search" }, prompt: "Search for Paris.", temperature: 1, seed: 3, maxRetries: 0, maxOutputTokens: 400 });
    const streamedCalls = await s.toolCalls;
    expect(streamedCalls.map((c) => c.toolName)).toEqual(["search"]);
    expect(schemas.search.parse(streamedCalls[0].input)).toBeTruthy();
  });
});
