// How a chat template's models write tool calls, one entry per style (after llama.cpp's common/chat.cpp, whose
// parses of example outputs are the fixtures' tool-call-formats.json): the grammar that forces a call (tool_choice
// "required" or a named tool), the trigger from which a call in free text is constrained ("auto"), and the parse of
// a finished output into content and calls. A template with no tools section gets the generic style: the tools
// described in the system message and the answer a JSON envelope, as llama-server does.
import { ChatMessagesError } from "../errors.js";
import { gbnfLiteral, jsonSchemasToGbnf } from "../grammar/jsonSchema.js";
import type { ChatMessage, ChatTemplate, ToolDefinition } from "./chatTemplate.js";

export type ToolChoice = "auto" | "none" | "required" | { readonly name: string };

/** The most calls in one answer with parallel calls on: a bound, so that a model cannot add calls forever. */
export const MAX_PARALLEL_CALLS = 8;

/** A call as parsed from output: the arguments are the raw JSON text the model wrote. */
export interface ParsedCall {
  readonly name: string;
  readonly arguments: string;
}

export interface ToolCallFormat {
  readonly style: "hermes" | "llama3-json" | "deepseek-r1" | "generic";
  /**
   * Text that begins a call in free output: from it on (tool_choice auto) the call grammar applies, and the
   * text is held back from the content. Undefined: the style has no marker, and (generic) the whole answer is
   * the envelope, or (llama3-json) the whole answer is a call or it is content.
   */
  readonly trigger?: string;
  /** A trigger that counts only where the answer begins (llama3-json: a call is the whole answer, from its "{"). */
  readonly openingTrigger?: string;
  /** GBNF for the calls, starting at the trigger where there is one. `required`: a call must come. */
  grammar(tools: readonly ToolDefinition[], o: { readonly parallel: boolean; readonly required: boolean }): string | undefined;
  /** Splits a finished output (the answer, reasoning removed) into content and calls. */
  parse(text: string): { content: string; calls: ParsedCall[] };
  /** The conversation as the template is to see it (generic: the tools described in the system message). */
  prepare(messages: readonly ChatMessage[], tools: readonly ToolDefinition[], required: boolean): readonly ChatMessage[];
}

/**
 * The style of a template's tool calls, from how it renders a past call (as llama.cpp probes templates): a
 * template that drops calls from the history (R1-Distill-Llama's) or writes them in no known syntax gets the
 * generic envelope.
 */
export function toolCallFormatOf(template: ChatTemplate): ToolCallFormat {
  let format = formats.get(template);
  if (!format) formats.set(template, (format = probeFormat(template)));
  return format;
}

/** Each template's style, found once (a request's prompt size and its generation both ask). */
const formats = new WeakMap<ChatTemplate, ToolCallFormat>();

function probeFormat(template: ChatTemplate): ToolCallFormat {
  let probe: string;
  try {
    probe = template.render(PROBE, false, { tools: [PROBE_TOOL] });
  } catch {
    return GENERIC;
  }
  if (!probe.includes("probe_tool")) return GENERIC;
  if (probe.includes("<tool_call>")) return HERMES;
  if (probe.includes(R1.begin)) return DEEPSEEK_R1;
  if (template.readsTools && /"name": "probe_tool", "parameters"/.test(probe)) return LLAMA3_JSON;
  return GENERIC;
}

const PROBE_TOOL: ToolDefinition = { type: "function", function: { name: "probe_tool", parameters: { type: "object", properties: { a: { type: "integer" } } } } };
const PROBE: ChatMessage[] = [
  { role: "user", content: "x" },
  { role: "assistant", content: "", toolCalls: [{ id: "call_probe", type: "function", function: { name: "probe_tool", arguments: '{"a": 1}' } }] },
  { role: "tool", content: "y", toolCallId: "call_probe", name: "probe_tool" },
];

/** The tools restricted to a named one (tool_choice {name}); a name that is not among them is an error. */
export function toolsFor(tools: readonly ToolDefinition[], choice: ToolChoice): readonly ToolDefinition[] {
  if (typeof choice !== "object") return tools;
  const tool = tools.find((t) => t.function.name === choice.name);
  if (!tool) throw new ChatMessagesError(`tool_choice names '${choice.name}', which is not among the tools (${tools.map((t) => t.function.name).join(", ")})`);
  return [tool];
}

const parameters = (t: ToolDefinition) => t.function.parameters ?? { type: "object" };
const keep = (messages: readonly ChatMessage[]) => messages;

/** A JSON object of a call: {"name": N, <argsKey>: args} (Llama's may begin with "type": "function"), one alternative per tool. */
function callSchema(tools: readonly ToolDefinition[], argsKey: string, typed = false): unknown {
  return {
    anyOf: tools.map((t) => ({
      type: "object", properties: { ...(typed ? { type: { const: "function" } } : {}), name: { const: t.function.name }, [argsKey]: parameters(t) },
      required: ["name", argsKey], additionalProperties: false,
    })),
  };
}

/** Qwen2.5, Hermes: <tool_call>\n{"name": …, "arguments": {…}}\n</tool_call>, repeated for parallel calls. */
const HERMES: ToolCallFormat = {
  style: "hermes",
  trigger: "<tool_call>",
  grammar(tools, o) {
    const call = '"<tool_call>\\n" call-json "\\n</tool_call>"';
    return jsonSchemasToGbnf({ "call-json": callSchema(tools, "arguments") }, `root ::= ${call}${o.parallel ? ` ("\\n" ${call}){0,${MAX_PARALLEL_CALLS - 1}}` : ""}`);
  },
  parse(text) {
    const at = text.indexOf("<tool_call>");
    if (at < 0) return { content: text, calls: [] };
    const calls: ParsedCall[] = [];
    for (const m of text.slice(at).matchAll(/<tool_call>\s*([\s\S]*?)\s*(?:<\/tool_call>|$)/g)) {
      const call = callOf(m[1], ["arguments", "parameters"]);
      if (!call) return { content: text, calls: [] };
      calls.push(call);
    }
    return { content: text.slice(0, at), calls };
  },
  prepare: keep,
};

/** Llama 3.1-3.3: the answer is one JSON call {"name": …, "parameters": {…}} (maybe after <|python_tag|>), or content. */
const LLAMA3_JSON: ToolCallFormat = {
  style: "llama3-json",
  openingTrigger: "{",
  grammar(tools, o) {
    return o.required ? jsonSchemasToGbnf({ "call-json": callSchema(tools, "parameters", true) }, "root ::= call-json") : undefined;
  },
  parse(text) {
    const at = text.indexOf("{");
    const call = at < 0 ? undefined : callOf(text.slice(at).trim(), ["parameters", "arguments"]);
    return call ? { content: text.slice(0, at), calls: [call] } : { content: text, calls: [] };
  },
  prepare: keep,
};

const R1 = { begin: "<｜tool▁calls▁begin｜>", end: "<｜tool▁calls▁end｜>", call: "<｜tool▁call▁begin｜>", callEnd: "<｜tool▁call▁end｜>", sep: "<｜tool▁sep｜>" };

/** DeepSeek R1 (and V3): calls in its own tokens, each a name and a ```json block, after the think block. */
const DEEPSEEK_R1: ToolCallFormat = {
  style: "deepseek-r1",
  trigger: R1.begin,
  grammar(tools, o) {
    const schemas = Object.fromEntries(tools.map((t, i) => [`args-${i}`, parameters(t)]));
    const call = `call ::= ${gbnfLiteral(`${R1.call}function${R1.sep}`)} (${tools.map((t, i) => `${gbnfLiteral(`${t.function.name}\n\`\`\`json\n`)} args-${i}`).join(" | ")}) ${gbnfLiteral(`\n\`\`\`${R1.callEnd}`)}`;
    return jsonSchemasToGbnf(schemas, `root ::= ${gbnfLiteral(R1.begin)} call${o.parallel ? ` ("\\n"? call){0,${MAX_PARALLEL_CALLS - 1}}` : ""} ${gbnfLiteral(R1.end)}\n${call}`);
  },
  parse(text) {
    const at = text.indexOf(R1.begin);
    if (at < 0) return { content: text, calls: [] };
    const calls: ParsedCall[] = [];
    const pattern = new RegExp(`${R1.call}function${R1.sep}([^\\n]+)\\n\`\`\`(?:json)?\\n([\\s\\S]*?)\\n?\`\`\`\\s*(?:${R1.callEnd}|$)`, "g");
    for (const m of text.slice(at).matchAll(pattern)) {
      if (!isJsonObject(m[2].trim())) return { content: text, calls: [] };
      calls.push({ name: m[1].trim(), arguments: m[2].trim() });
    }
    return calls.length ? { content: text.slice(0, at), calls } : { content: text, calls: [] };
  },
  prepare: keep,
};

/**
 * Templates without a tools section: llama-server's generic handler. The tools and the envelope are described
 * in the system message; the answer is {"tool_call": {"name", "arguments"}} ({"tool_calls": [...]} when
 * parallel) or {"response": "..."}, always under the grammar (there is no marker to wait for).
 */
const GENERIC: ToolCallFormat = {
  style: "generic",
  grammar(tools, o) {
    const call = callSchema(tools, "arguments");
    const calls = o.parallel ? { type: "object", properties: { tool_calls: { type: "array", items: call, minItems: 1, maxItems: MAX_PARALLEL_CALLS } }, required: ["tool_calls"], additionalProperties: false }
      : { type: "object", properties: { tool_call: call }, required: ["tool_call"], additionalProperties: false };
    const answer = { type: "object", properties: { response: { type: "string" } }, required: ["response"], additionalProperties: false };
    return jsonSchemasToGbnf({ root: o.required ? calls : { anyOf: [calls, answer] } });
  },
  parse(text) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return { content: text, calls: [] };
    }
    const v = value as { tool_call?: unknown; tool_calls?: unknown[]; response?: unknown };
    const list = v.tool_calls ?? (v.tool_call ? [v.tool_call] : []);
    const calls = list.map((c) => c as { name?: unknown; arguments?: unknown }).filter((c) => typeof c.name === "string")
      .map((c) => ({ name: c.name as string, arguments: JSON.stringify(c.arguments ?? {}) }));
    return { content: typeof v.response === "string" ? v.response : calls.length ? "" : text, calls };
  },
  prepare(messages, tools, required) {
    const what = required ? "with `tool_call` (a request to call tools)" : "either with `tool_call` (a request to call tools) or with `response` (your reply to the user's request)";
    const text = `Respond in JSON format, ${what}. The tools you can call:\n${tools.map((t) => JSON.stringify(t.function)).join("\n")}`;
    const [first, ...rest] = messages;
    return first?.role === "system" ? [{ ...first, content: `${first.content}\n\n${text}` }, ...rest] : [{ role: "system", content: text }, ...messages];
  },
};

/** A call object's name and raw arguments text (the value of the first of argsKeys present), if the text is one. */
function callOf(text: string, argsKeys: readonly string[]): ParsedCall | undefined {
  const spans = topLevelSpans(text);
  if (!spans) return undefined;
  const name = spans.get("name");
  const args = argsKeys.map((k) => spans.get(k)).find((x) => x !== undefined);
  if (!name || !args) return undefined;
  const parsedName: unknown = JSON.parse(text.slice(name[0], name[1]));
  const raw = text.slice(args[0], args[1]);
  return typeof parsedName === "string" && isJsonObject(raw) ? { name: parsedName, arguments: raw } : undefined;
}

function isJsonObject(text: string): boolean {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === "object" && v !== null && !Array.isArray(v);
  } catch {
    return false;
  }
}

/** Where each top-level key's value lies in a JSON object's text ([start, end)), or undefined if it is not one. */
function topLevelSpans(text: string): Map<string, [number, number]> | undefined {
  if (!isJsonObject(text)) return undefined;
  const spans = new Map<string, [number, number]>();
  let i = text.indexOf("{") + 1;
  const skipSpace = () => {
    while (/\s/.test(text[i] ?? "")) i++;
  };
  for (;;) {
    skipSpace();
    if (text[i] === "}") return spans;
    const keyEnd = valueEnd(text, i);
    const key = JSON.parse(text.slice(i, keyEnd)) as string;
    i = keyEnd;
    skipSpace();
    i++; // the colon
    skipSpace();
    const end = valueEnd(text, i);
    spans.set(key, [i, end]);
    i = end;
    skipSpace();
    if (text[i] === ",") i++;
  }
}

/** The end of the JSON value starting at `at` (valid JSON assumed: strings, nesting, literals, numbers). */
function valueEnd(text: string, at: number): number {
  let depth = 0;
  for (let i = at; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      for (i++; text[i] !== '"'; i++) if (text[i] === "\\") i++;
      if (depth === 0) return i + 1;
    } else if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") {
      if (--depth === 0) return i + 1;
    } else if (depth === 0 && /[,}\]\s]/.test(text[i + 1] ?? "}")) return i + 1;
  }
  return text.length;
}
