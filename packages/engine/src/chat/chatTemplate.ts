// Chat prompts from the GGUF's own `tokenizer.chat_template` (a Jinja template, rendered with
// @huggingface/jinja as transformers does), or a built-in template for files that carry none.
import { Template } from "@huggingface/jinja";
import { ChatMessagesError, ChatTemplateError } from "../errors.js";
import { metaString } from "../gguf/metadata.js";
import type { GgufFile } from "../gguf/readGguf.js";
import type { Tokenizer } from "../tokenizer/tokenizer.js";

/** The roles a conversation's messages take ("tool": a tool's result, answering an assistant's tool call). */
export const CHAT_ROLES = ["system", "user", "assistant", "tool"] as const;

export interface ChatMessage {
  role: (typeof CHAT_ROLES)[number];
  content: string;
  /** An assistant message's calls of tools. */
  toolCalls?: readonly ToolCall[];
  /** A tool message: the call it answers. */
  toolCallId?: string;
  /** A tool message: the tool's name. */
  name?: string;
}

/** A function the model may call (OpenAI's `tools` entries). */
export interface ToolDefinition {
  type: "function";
  function: { name: string; description?: string; parameters?: unknown };
}

/** One call of a tool, as OpenAI writes it: the arguments are JSON text. */
export interface ToolCall {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

/** A ChatMessagesError naming the first problem: an empty conversation, an unknown role, a content that is not text. */
export function checkChatMessages(messages: unknown): asserts messages is readonly ChatMessage[] {
  if (!Array.isArray(messages) || messages.length === 0) throw new ChatMessagesError("a conversation needs at least one message");
  messages.forEach((m: unknown, i) => {
    const { role, content, toolCalls } = (m ?? {}) as { role?: unknown; content?: unknown; toolCalls?: unknown };
    if (!(CHAT_ROLES as readonly unknown[]).includes(role)) throw new ChatMessagesError(`message ${i}: role must be one of ${CHAT_ROLES.join(", ")}, got ${JSON.stringify(role)}`);
    if (typeof content !== "string") throw new ChatMessagesError(`message ${i}: content must be a string, got ${content === null ? "null" : typeof content}`);
    if (toolCalls === undefined) return;
    if (role !== "assistant") throw new ChatMessagesError(`message ${i}: only an assistant message has toolCalls`);
    if (!Array.isArray(toolCalls)) throw new ChatMessagesError(`message ${i}: toolCalls must be an array`);
    toolCalls.forEach((c: unknown, k) => {
      const f = (c as { function?: { name?: unknown; arguments?: unknown } } | null)?.function;
      if (typeof f?.name !== "string" || typeof f.arguments !== "string") throw new ChatMessagesError(`message ${i}: toolCalls[${k}] needs function.name and function.arguments as strings`);
      try {
        JSON.parse(f.arguments);
      } catch {
        throw new ChatMessagesError(`message ${i}: toolCalls[${k}].function.arguments is not JSON: ${JSON.stringify(f.arguments.slice(0, 60))}`);
      }
    });
  });
}

/**
 * A message as chat templates read it (transformers' and llama-server's shape): tool_calls with their arguments
 * as objects (templates write them with `| tojson`; llama-server passes objects, and renders equal to it only so),
 * tool_call_id and name on tool results.
 */
function templateMessage(m: ChatMessage): Record<string, unknown> {
  const out: Record<string, unknown> = { role: m.role, content: m.content };
  if (m.toolCalls) {
    out.tool_calls = m.toolCalls.map((c) => ({ id: c.id, type: "function", function: { name: c.function.name, arguments: JSON.parse(c.function.arguments) } }));
  }
  if (m.toolCallId !== undefined) out.tool_call_id = m.toolCallId;
  if (m.name !== undefined) out.name = m.name;
  return out;
}

/** Built-in templates (spelled as their models' own), for files without `tokenizer.chat_template`. */
export const BUILTIN_TEMPLATES: Readonly<Record<string, string>> = {
  llama2:
    "{% if messages[0]['role'] == 'system' %}{% set system = '<<SYS>>\\n' + messages[0]['content'] + '\\n<</SYS>>\\n\\n' %}{% set messages = messages[1:] %}{% else %}{% set system = '' %}{% endif %}" +
    "{% for message in messages %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + (system if loop.first else '') + message['content'] + ' [/INST]' }}" +
    "{% else %}{{ ' ' + message['content'] + ' ' + eos_token }}{% endif %}{% endfor %}",
  llama3:
    "{{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] + '<|eot_id|>' }}{% endfor %}" +
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}",
  chatml:
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{% endfor %}" +
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
  deepseek:
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'system' %}{{ message['content'] }}{% elif message['role'] == 'user' %}{{ '<｜User｜>' + message['content'] }}" +
    "{% else %}{{ '<｜Assistant｜>' + message['content'] + eos_token }}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<｜Assistant｜>' }}{% endif %}",
  // Baichuan2-Chat (generation_utils.py build_chat_input): the system text, then each turn behind its role
  // token, user_token_id 195 = <reserved_106> and assistant_token_id 196 = <reserved_107>, no separators.
  baichuan:
    "{% for message in messages %}{% if message['role'] == 'system' %}{{ message['content'] }}{% elif message['role'] == 'user' %}{{ '<reserved_106>' + message['content'] }}" +
    "{% else %}{{ '<reserved_107>' + message['content'] }}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<reserved_107>' }}{% endif %}",
};

/** The built-in template a vocabulary looks made for: by its special tokens, else Llama 2's. */
export function builtinTemplateFor(tokenizer: Tokenizer): string {
  const has = (text: string) => tokenizer.vocab.tokenToId.has(text);
  if (has("<|start_header_id|>")) return "llama3";
  if (has("<|im_start|>")) return "chatml";
  if (has("<｜User｜>")) return "deepseek";
  if (has("<reserved_106>") && has("<reserved_107>")) return "baichuan";
  return "llama2";
}

export class ChatTemplate {
  private readonly template: Template;

  constructor(
    /** The template's source, or a built-in's name. */
    readonly source: string,
    private readonly bosToken: string,
    private readonly eosToken: string,
    /** Whether the vocabulary adds BOS / EOS itself when tokenizing (then the rendering drops its own). */
    private readonly adds: { readonly bos?: boolean; readonly eos?: boolean } = {},
  ) {
    try {
      this.template = new Template(BUILTIN_TEMPLATES[source] ?? source);
    } catch (e) {
      throw new ChatTemplateError(`the chat template does not parse: ${(e as Error).message}`);
    }
  }

  /** The file's template (or `override`: Jinja source or a built-in's name), with the vocabulary's BOS and EOS. */
  static fromGguf(file: GgufFile, tokenizer: Tokenizer, override?: string): ChatTemplate {
    const v = tokenizer.vocab;
    const text = (id: number) => (id >= 0 ? v.tokens[id] : "");
    const source = override ?? metaString(file, "tokenizer.chat_template") ?? builtinTemplateFor(tokenizer);
    return new ChatTemplate(source, text(v.bos), text(v.eos), { bos: v.addBos, eos: v.addEos });
  }

  /** The template reads `tools` (it has a tools section of its own); else tool descriptions must go elsewhere. */
  get readsTools(): boolean {
    return /\btools\b/.test(BUILTIN_TEMPLATES[this.source] ?? this.source);
  }

  /**
   * The prompt for a conversation, as llama-server renders it (common/chat.cpp): `enable_thinking` is set
   * (true unless `enableThinking` is false: the R1 templates close the think block at once without it), and a
   * BOS at the start (EOS at the end) is dropped when the vocabulary adds its own, so it is not doubled.
   */
  render(messages: readonly ChatMessage[], addGenerationPrompt = true, options: { readonly enableThinking?: boolean; readonly tools?: readonly ToolDefinition[] } = {}): string {
    let text: string;
    try {
      text = this.template.render({
        messages: messages.map(templateMessage), bos_token: this.bosToken, eos_token: this.eosToken, add_generation_prompt: addGenerationPrompt,
        enable_thinking: options.enableThinking ?? true, ...(options.tools && options.tools.length > 0 ? { tools: options.tools } : {}),
      });
    } catch (e) {
      // A template's own refusal (raise_exception: "only supports single tool-calls at once") names the problem.
      throw new ChatMessagesError(`the chat template refused the conversation: ${(e as Error).message}`);
    }
    if (this.adds.bos && this.bosToken && text.startsWith(this.bosToken)) text = text.slice(this.bosToken.length);
    if (this.adds.eos && this.eosToken && text.endsWith(this.eosToken)) text = text.slice(0, -this.eosToken.length);
    return text;
  }
}
