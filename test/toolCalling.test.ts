// Tool calls from the engine on random-weight fixtures, each served with a template of its family: whatever the
// weights prefer, a forced call (tool_choice required or named) comes back as a call of one of the tools whose
// arguments validate against its parameters; with auto, a call that begins is kept to its format; the prompt has
// the tools in the template's own tools section.
import * as fs from "node:fs";
import { Ajv2020 } from "ajv/dist/2020.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadModel, type ChatMessage, type CompletionOptions, type Model } from "@cpu-llm/engine";
import { DEMO_MODEL, fixture, fixturesPresent } from "./helpers/fixtures.js";
import { TOOLS } from "./helpers/tools.js";

const ajv = new Ajv2020({ strict: false });

const ASK: ChatMessage[] = [{ role: "system", content: "You are a helpful assistant with tools." }, { role: "user", content: "What's the weather in Paris, in celsius?" }];

async function chat(model: Model, messages: ChatMessage[], options: CompletionOptions) {
  using context = model.createContext({ contextSize: 2048 });
  using sequence = context.getSequence();
  const gen = sequence.chat(messages, options);
  const chunks = [];
  for (let step = await gen.next(); ; step = await gen.next()) {
    if (step.done) return { result: step.value, chunks };
    chunks.push(step.value);
  }
}

/** Every call names one of the tools and its arguments validate against that tool's parameters. */
function expectValidCalls(calls: { function: { name: string; arguments: string } }[], tools = TOOLS) {
  for (const c of calls) {
    const tool = tools.find((t) => t.function.name === c.function.name);
    expect(tool, c.function.name).toBeDefined();
    const validate = ajv.compile(tool!.function.parameters as object);
    expect(validate(JSON.parse(c.function.arguments)), `${c.function.arguments} ${JSON.stringify(validate.errors)}`).toBe(true);
  }
}

const cases: [string, string, string | undefined, string][] = [["stories260K, built-in llama2 template", DEMO_MODEL, undefined, "generic"]];
if (fixturesPresent()) {
  cases.push(
    ["qwen2 + Qwen2.5 template", fixture("models", "qwen2-q4_0.gguf"), fixture("templates", "Qwen-Qwen2.5-7B-Instruct.jinja"), "hermes"],
    ["llama3 + Llama 3.2 template", fixture("models", "llama3-q4_0.gguf"), fixture("templates", "meta-llama-Llama-3.2-3B-Instruct.jinja"), "llama3-json"],
    ["deepseek2 + llama.cpp's deepseek-r1 template", fixture("models", "deepseek2-q4_0.gguf"), fixture("templates", "llama-cpp-deepseek-r1.jinja"), "deepseek-r1"],
  );
}

describe.each(cases)("tool calls on %s", (_, file, templateFile, style) => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(file, { threads: 1, chatTemplate: templateFile && fs.readFileSync(templateFile, "utf8") });
  });
  afterAll(() => model?.close());

  it.each([
    ["required, greedy", { toolChoice: "required" as const, temperature: 0 }],
    ["required, sampled", { toolChoice: "required" as const, temperature: 1, seed: 3 }],
    ["named", { toolChoice: { name: "search" }, temperature: 1, seed: 4 }],
  ])("a forced call is a valid call of the tools (%s)", async (_, options) => {
    const { result, chunks } = await chat(model, ASK, { tools: TOOLS, maxTokens: 600, ...options });
    expect(result.finishReason, result.text).toBe("toolCalls");
    expect(result.toolCalls!.length).toBeGreaterThan(0);
    expectValidCalls(result.toolCalls!);
    if (typeof options.toolChoice === "object") expect(result.toolCalls!.every((c) => c.function.name === "search")).toBe(true);
    for (const c of result.toolCalls!) expect(c.id).toMatch(/^call_[0-9a-f]{24}$/);
    // The calls arrive in the last chunk, with their index; the text chunks never hold the call's syntax.
    expect(chunks.at(-1)!.toolCalls!.map(({ index: _i, ...c }) => c)).toEqual(result.toolCalls);
    expect(chunks.at(-1)!.toolCalls!.map((c) => c.index)).toEqual(result.toolCalls!.map((_c, i) => i));
    expect(chunks.map((c) => c.text).join("")).toBe(result.text);
    if (style === "hermes") expect(result.text).not.toContain("<tool_call>");
  });

  it("parallel calls: several calls may come, each valid", async () => {
    for (const seed of [1, 2]) {
      const { result } = await chat(model, ASK, { tools: TOOLS, toolChoice: "required", parallelToolCalls: style !== "llama3-json", temperature: 1, seed, maxTokens: 800 });
      expect(result.finishReason).toBe("toolCalls");
      expectValidCalls(result.toolCalls!);
    }
  });

  it("auto: an answer or calls; a call that begins is kept to its format", async () => {
    for (const seed of [1, 2, 3]) {
      const { result } = await chat(model, ASK, { tools: TOOLS, temperature: 1, seed, maxTokens: 300 });
      if (result.toolCalls) {
        expect(result.finishReason).toBe("toolCalls");
        expectValidCalls(result.toolCalls);
      } else {
        expect(["stop", "length"]).toContain(result.finishReason);
      }
    }
  });

  it("a tool result continues the conversation, and tool_choice none calls nothing", async () => {
    const history: ChatMessage[] = [
      ...ASK,
      { role: "assistant", content: "", toolCalls: [{ id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city": "Paris", "unit": "celsius"}' } }] },
      { role: "tool", content: '{"temperature": 18, "sky": "cloudy"}', toolCallId: "call_1", name: "get_weather" },
    ];
    const { result } = await chat(model, history, { tools: TOOLS, toolChoice: "none", temperature: 0, maxTokens: 8 });
    expect(result.toolCalls).toBeUndefined();
    expect(["stop", "length"]).toContain(result.finishReason);
  });

  it("bad tools are errors before any compute", async () => {
    await expect(chat(model, ASK, { tools: [{ type: "function", function: { name: "bad name!" } }] as never })).rejects.toThrow(/tools\[0\] must be/);
    await expect(chat(model, ASK, { tools: TOOLS, toolChoice: { name: "missing" } })).rejects.toThrow(/tool_choice names 'missing', which is not among the tools \(get_weather, search\)/);
    await expect(chat(model, ASK, { tools: TOOLS, toolChoice: "required", jsonSchema: {} })).rejects.toThrow(/cannot be combined with grammar or jsonSchema/);
  });
});
