// What a chat request with tools turns into before generation: the conversation the template sees, the grammar
// that forces a call (tool_choice "required" or a named tool), or the lazy grammar that constrains a call once
// its trigger appears (tool_choice "auto"), and the format that parses the answer into content and calls.
import { ChatMessagesError } from "../errors.js";
import { gbnfLiteral } from "../grammar/jsonSchema.js";
import type { ChatMessage, ChatTemplate, ToolDefinition } from "./chatTemplate.js";
import { toolCallFormatOf, toolsFor, type ToolCallFormat, type ToolChoice } from "./toolCallFormat.js";

export interface ToolUse {
  readonly format: ToolCallFormat;
  /** The conversation as the template is to render it. */
  readonly messages: readonly ChatMessage[];
  /** GBNF the whole answer must match (a forced call, or the generic envelope). */
  readonly grammar?: string;
  /** GBNF that applies from the trigger on (an optional call in free text). */
  readonly lazy?: { readonly trigger: string; readonly grammar: string; readonly anchored?: boolean };
}

/** A ChatMessagesError naming the first tool that is not {type: "function", function: {name}}. */
export function checkTools(tools: unknown): asserts tools is readonly ToolDefinition[] {
  if (!Array.isArray(tools)) throw new ChatMessagesError("tools must be an array of {type: \"function\", function: {name, parameters}}");
  const names = new Set<string>();
  tools.forEach((t: unknown, i) => {
    const f = (t as { type?: unknown; function?: { name?: unknown; parameters?: unknown } } | null);
    if (f?.type !== "function" || typeof f.function?.name !== "string" || !/^[A-Za-z0-9_.-]{1,64}$/.test(f.function.name)) {
      throw new ChatMessagesError(`tools[${i}] must be {type: "function", function: {name}} with a name of letters, digits, _ . - (at most 64)`);
    }
    if (names.has(f.function.name)) throw new ChatMessagesError(`tools[${i}]: the name '${f.function.name}' is given twice`);
    names.add(f.function.name);
    const p = f.function.parameters;
    if (p !== undefined && (typeof p !== "object" || p === null || Array.isArray(p))) throw new ChatMessagesError(`tools[${i}].function.parameters must be a JSON schema object`);
  });
}

/**
 * The plan for a chat with these tools (none when there are no tools or tool_choice is "none"). A forced call
 * after a think block the prompt opens is wrapped by afterThinking where the prompt is known (chatInput).
 */
export function planToolUse(template: ChatTemplate, messages: readonly ChatMessage[], tools: readonly ToolDefinition[], choice: ToolChoice, parallel: boolean): ToolUse | undefined {
  checkTools(tools);
  if (tools.length === 0 || choice === "none") return undefined;
  if (typeof choice === "string" && !["auto", "required"].includes(choice)) throw new ChatMessagesError(`tool_choice must be auto, none, required or {name}, got '${choice}'`);
  const format = toolCallFormatOf(template);
  const allowed = toolsFor(tools, choice);
  const required = choice !== "auto";
  const prepared = format.prepare(messages, tools, required);
  if (!required && format.openingTrigger) {
    // An answer that opens with the trigger is a call, kept to the call grammar; any other answer is free.
    const grammar = format.grammar(allowed, { parallel, required: true })!;
    return { format, messages: prepared, lazy: { trigger: format.openingTrigger, grammar, anchored: true } };
  }
  const grammar = format.grammar(allowed, { parallel, required });
  if (!grammar) return { format, messages: prepared };
  if (required || !format.trigger) return { format, messages: prepared, grammar };
  return { format, messages: prepared, lazy: { trigger: format.trigger, grammar } };
}

/**
 * How long the reasoning before a forced call may be, in characters (a '<' that does not begin "</think>" counts
 * with the few after it): a think block the grammar does not bound may never close, and a forced call must come.
 */
export const FORCED_THOUGHT_CHARS = 512;

/**
 * GBNF that lets a think block (text up to "</think>", at most FORCED_THOUGHT_CHARS) come first and then
 * requires `grammar`'s root: the R1 templates open the block in the prompt, and a forced call must not land
 * inside it.
 */
export function afterThinking(grammar: string): string {
  // Text without "</think>": a character other than '<', or one of its proper prefixes followed by a character
  // that neither continues it nor begins it again ('<'), which the tag's lack of self-overlap makes exact.
  const close = "</think>";
  const alts = ["[^<]"];
  for (let k = 1; k < close.length; k++) alts.push(`${gbnfLiteral(close.slice(0, k))} [^${close[k]}<]`);
  return `root ::= thought{0,${FORCED_THOUGHT_CHARS}} "</think>" [ \\t\\n]{0,4} calls\nthought ::= ${alts.join(" | ")}\n${grammar.replace(/^root ::=/m, "calls ::=")}`;
}
