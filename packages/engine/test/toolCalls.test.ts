// Tool calling against llama-server: conversations with tools, tool calls and tool results rendered through the
// fixture templates exactly as its /apply-template renders them, and example outputs split into content and
// calls as its chat parser splits them (../shared/fixtures/templates). The grammars that force a call accept
// the format's own examples and whatever a random walk completes parses back into calls of the given tools.
import * as fs from "node:fs";
import { describe, expect, it } from "vitest";
import { ChatTemplate, readGguf, Tokenizer, type ChatMessage, type ToolDefinition } from "@cpu-llm/engine";
import { toolCallFormatOf } from "../src/chat/toolCallFormat.js";
import { ReasoningSplit } from "../src/generation/reasoningSplit.js";
import { parseGbnf } from "../src/grammar/gbnf.js";
import { GrammarMatcher } from "../src/grammar/grammarMatcher.js";
import { DEMO_MODEL, fixture, fixturesPresent } from "../../../test/helpers/fixtures.js";
import { LazyGrammarStage } from "../src/sampling/grammarStage.js";
import { Candidates } from "../src/sampling/samplerChain.js";

interface OpenAiMessage {
  role: ChatMessage["role"];
  content: string | null;
  tool_calls?: { id: string; type: "function"; function: { name: string; arguments: string } }[];
  tool_call_id?: string;
  name?: string;
}
interface Rendering {
  template: string;
  model: string;
  conversation: string;
  request: { messages: OpenAiMessage[]; tools?: ToolDefinition[] };
  http_status: number;
  rendered?: string;
}
interface Formats {
  template: string;
  expected_style: string;
  examples: { name: string; model_output: string; parsed_as_tool_calls: boolean; parsed_message?: { content: string; tool_calls?: { function: { name: string; arguments: string } }[] } }[];
}

const load = <T>(name: string): T[] => (fixturesPresent() ? JSON.parse(fs.readFileSync(fixture("templates", name), "utf8")) : []);
const asMessage = (m: OpenAiMessage): ChatMessage => ({
  role: m.role, content: m.content ?? "",
  ...(m.tool_calls ? { toolCalls: m.tool_calls } : {}), ...(m.tool_call_id ? { toolCallId: m.tool_call_id } : {}), ...(m.name ? { name: m.name } : {}),
});
const templateOf = (file: string, model: string) => {
  const v = Tokenizer.fromGguf(readGguf(fixture(model))).vocab;
  return new ChatTemplate(fs.readFileSync(fixture(file), "utf8"), v.tokens[v.bos] ?? "", v.tokens[v.eos] ?? "", { bos: v.addBos, eos: v.addEos });
};

describe.skipIf(!fixturesPresent())("tool calling as llama-server does it", () => {
  const renderings = load<Rendering>("rendered-tools.json");
  it.each(renderings.map((e) => [e.template.split("/")[1], e.conversation, e] as const))("%s, %s: rendered as /apply-template renders it", (_, __, e) => {
    const template = templateOf(e.template, e.model);
    const render = () => template.render(e.request.messages.map(asMessage), true, { tools: e.request.tools });
    if (e.http_status !== 200) {
      expect(render).toThrow(/the chat template refused the conversation: .*single tool-calls/);
      return;
    }
    const ours = render();
    const today = /Today Date: (\d\d \w{3} \d{4})/.exec(ours)?.[1];
    expect(ours).toBe(today ? e.rendered!.replace(/Today Date: \d\d \w{3} \d{4}/, `Today Date: ${today}`) : e.rendered);
  });

  const formats = load<Formats>("tool-call-formats.json");
  const tools = renderings[0]?.request.tools ?? [];
  it.each(formats.map((f) => [f.template.split("/")[1], f] as const))("%s: the style llama.cpp expects; its example outputs parse as its parser parses them", (_, f) => {
    const template = templateOf(f.template, renderings.find((r) => r.template === f.template)!.model);
    const format = toolCallFormatOf(template);
    // R1-Distill-Llama-8B's template drops past calls: llama.cpp parses no calls for it; we use the generic envelope.
    const parsesCalls = f.examples.some((ex) => ex.parsed_as_tool_calls);
    expect(format.style).toBe(parsesCalls ? { hermes: "hermes", llama3_json: "llama3-json", deepseek_r1: "deepseek-r1" }[f.expected_style] : "generic");
    const opensThink = /<think>\n?$/.test(template.render([{ role: "user", content: "x" }]));
    for (const ex of f.examples) {
      // The reasoning comes off first (the R1 templates open a think block), as the engine's text stages do.
      let answer = ex.model_output;
      if (opensThink) {
        const split = new ReasoningSplit(true);
        answer = split.push(answer).content + split.flush().content;
      }
      const parsed = format.parse(answer);
      const calls = ex.parsed_message?.tool_calls?.map((c) => ({ name: c.function.name, arguments: c.function.arguments })) ?? [];
      expect(parsed.calls, ex.name).toEqual(format.style === "generic" ? [] : calls);
      // llama.cpp keeps the blank lines after </think> in content; the reasoning split drops them.
      if (ex.parsed_message && format.style !== "generic") expect(parsed.content.trim(), ex.name).toBe(ex.parsed_message.content.trim());
      if (ex.parsed_as_tool_calls && format.style !== "generic") {
        // The forced-call grammar accepts the example's calls (from the trigger on).
        const gbnf = format.grammar(tools, { parallel: calls.length > 1, required: true })!;
        const m = new GrammarMatcher(parseGbnf(gbnf));
        const from = format.trigger ? answer.indexOf(format.trigger) : answer.indexOf("{");
        const s = m.advanceBytes(m.initial, new TextEncoder().encode(answer.slice(from).trimEnd()));
        expect(s && m.canEnd(s), `${ex.name}: ${answer.slice(from)}`).toBe(true);
      }
    }
  });
});

describe("the generic envelope (templates with no tools section)", () => {
  const tools: ToolDefinition[] = [{ type: "function", function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } } }];
  const format = toolCallFormatOf(new ChatTemplate("llama2", "<s>", "</s>"));
  it("describes the tools in the system message and parses calls and responses", () => {
    expect(format.style).toBe("generic");
    const [system] = format.prepare([{ role: "user", content: "Weather in Paris?" }], tools, false);
    expect(system).toMatchObject({ role: "system", content: expect.stringContaining('"name":"get_weather"') });
    expect(format.parse('{"tool_call": {"name": "get_weather", "arguments": {"city": "Paris"}}}')).toEqual({ content: "", calls: [{ name: "get_weather", arguments: '{"city":"Paris"}' }] });
    expect(format.parse('{"response": "It is sunny."}')).toEqual({ content: "It is sunny.", calls: [] });
    expect(format.parse("not json")).toEqual({ content: "not json", calls: [] });
    const m = new GrammarMatcher(parseGbnf(format.grammar(tools, { parallel: true, required: true })!));
    const call = m.advanceBytes(m.initial, new TextEncoder().encode('{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}'));
    expect(call && m.canEnd(call)).toBe(true);
    expect(m.advanceBytes(m.initial, new TextEncoder().encode('{"response"'))).toBeUndefined(); // required: no plain answer
  });
});

describe("lazy grammars", () => {
  const tokenizer = Tokenizer.fromGguf(readGguf(DEMO_MODEL));
  const grammar = parseGbnf('root ::= "{" [a-z]+ "}"');
  // The token that spells exactly this text (encode would add SentencePiece's space prefix).
  const id = (text: string) => Array.from({ length: tokenizer.size }, (_, i) => i).find((i) => new TextDecoder().decode(tokenizer.tokenToPiece(i)) === text)!;
  const allowed = (stage: LazyGrammarStage, token: number) => {
    const c = new Candidates(Float32Array.from({ length: tokenizer.size }, (_, i) => (i === token ? 1 : 0)));
    stage.apply(c);
    return c.best(1)[0] === token;
  };
  it("an anchored trigger constrains an answer that opens with it, and nothing else", () => {
    const opens = new LazyGrammarStage(grammar, tokenizer, "{", true);
    opens.accept(id("{"));
    expect(allowed(opens, id("a"))).toBe(true);
    expect(allowed(opens, id("1"))).toBe(false); // inside the call now: digits are refused
    const prose = new LazyGrammarStage(grammar, tokenizer, "{", true);
    for (const t of tokenizer.encode("Hi {", { addSpecial: false })) prose.accept(t);
    expect(allowed(prose, id("1"))).toBe(true); // a "{" later in prose starts nothing
  });
  it("a trigger anywhere constrains from where it appears", () => {
    const anywhere = new LazyGrammarStage(grammar, tokenizer, "{");
    expect(allowed(anywhere, id("1"))).toBe(true);
    for (const t of tokenizer.encode("Hi {", { addSpecial: false })) anywhere.accept(t);
    expect(allowed(anywhere, id("1"))).toBe(false);
  });
});
