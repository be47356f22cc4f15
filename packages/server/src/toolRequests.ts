// Tool calling requests of the OpenAI and ollama APIs as engine options and messages: tools, tool_choice and
// parallel_tool_calls; assistant messages with tool_calls and `tool` results in the history. Checked here, on
// the HTTP thread (every tool's parameters compiled to a grammar), so a bad tool is a 400 naming it before a
// slot is taken.
import { checkTools, JsonSchemaError, jsonSchemaToGbnf, type ChatMessage, type ToolCall, type ToolChoice, type ToolDefinition } from "@cpu-llm/engine";
import type { GenerationOptions } from "./protocol.js";
import { HttpError } from "./server.js";

const TOOL = {
  type: "object", required: ["type", "function"],
  properties: {
    type: { const: "function" },
    function: { type: "object", required: ["name"], properties: { name: { type: "string" }, description: { type: "string" }, parameters: { type: "object" }, strict: { type: ["boolean", "null"] } } },
  },
} as const;

export const OPENAI_TOOL_SCHEMA = {
  tools: { type: ["array", "null"], items: TOOL },
  tool_choice: {
    anyOf: [
      { type: "string", enum: ["none", "auto", "required"] },
      { type: "object", required: ["type", "function"], properties: { type: { const: "function" }, function: { type: "object", required: ["name"], properties: { name: { type: "string" } } } } },
      { type: "null" },
    ],
  },
  parallel_tool_calls: { type: ["boolean", "null"] },
} as const;

export const OLLAMA_TOOL_SCHEMA = { tools: { type: "array", items: TOOL } } as const;

/** The tool options of a request (none without tools); a bad tool or an unknown tool_choice name is a 400. */
export function toolOptions(tools: unknown, choice: unknown, parallel: unknown): Pick<GenerationOptions, "tools" | "toolChoice" | "parallelToolCalls"> {
  if (tools === undefined || tools === null || (Array.isArray(tools) && tools.length === 0)) {
    if (choice === "required" || (typeof choice === "object" && choice !== null)) throw new HttpError(400, "tool_choice asks for a tool call, but no tools are given");
    return {};
  }
  try {
    checkTools(tools);
  } catch (e) {
    throw new HttpError(400, (e as Error).message);
  }
  (tools as ToolDefinition[]).forEach((t, i) => {
    try {
      jsonSchemaToGbnf(t.function.parameters ?? { type: "object" });
    } catch (e) {
      if (e instanceof JsonSchemaError) throw new HttpError(400, `tools[${i}].function.parameters: ${e.message}`);
      throw e;
    }
  });
  let toolChoice: ToolChoice = "auto";
  if (typeof choice === "string") toolChoice = choice as ToolChoice;
  else if (choice && typeof choice === "object") {
    const name = (choice as { function: { name: string } }).function.name;
    if (!(tools as ToolDefinition[]).some((t) => t.function.name === name)) {
      throw new HttpError(400, `tool_choice names '${name}', which is not among the tools (${(tools as ToolDefinition[]).map((t) => t.function.name).join(", ")})`);
    }
    toolChoice = { name };
  }
  return { tools: tools as ToolDefinition[], toolChoice, ...(typeof parallel === "boolean" ? { parallelToolCalls: parallel } : {}) };
}

/**
 * Tool calls bring a grammar of their own (forced, or from a call's trigger on): beside another constraint
 * (`fields` names the request's) they are a 400, unless tool_choice is none.
 */
export function checkToolsAlone(tools: Pick<GenerationOptions, "tools" | "toolChoice">, constraint: Pick<GenerationOptions, "grammar" | "jsonSchema">, fields: string): void {
  if (tools.tools && tools.toolChoice !== "none" && (constraint.grammar !== undefined || constraint.jsonSchema !== undefined)) {
    throw new HttpError(400, `tools cannot be combined with ${fields}`);
  }
}

interface OpenAiToolCall {
  id?: string;
  type?: string;
  function: { name: string; arguments: string };
}

/** An OpenAI assistant message's tool_calls as the engine's (arguments must be JSON text). */
export function callsOfOpenAi(calls: readonly OpenAiToolCall[] | null | undefined, at: number): Pick<ChatMessage, "toolCalls"> {
  if (!calls || calls.length === 0) return {};
  return {
    toolCalls: calls.map((c, k): ToolCall => {
      if (typeof c?.function?.name !== "string" || typeof c.function.arguments !== "string") {
        throw new HttpError(400, `messages[${at}].tool_calls[${k}] needs function.name and function.arguments (a JSON string)`);
      }
      return { id: c.id ?? `call_${at}_${k}`, type: "function", function: { name: c.function.name, arguments: c.function.arguments } };
    }),
  };
}

/** An ollama assistant message's tool_calls (arguments are objects there). */
export function callsOfOllama(calls: readonly { function?: { name?: unknown; arguments?: unknown } }[] | undefined, at: number): Pick<ChatMessage, "toolCalls"> {
  if (!calls || calls.length === 0) return {};
  return {
    toolCalls: calls.map((c, k): ToolCall => {
      const f = c?.function;
      if (typeof f?.name !== "string") throw new HttpError(400, `messages[${at}].tool_calls[${k}] needs function.name`);
      return { id: `call_${at}_${k}`, type: "function", function: { name: f.name, arguments: JSON.stringify(f.arguments ?? {}) } };
    }),
  };
}
