// OpenAI's API (/v1/chat/completions, /v1/completions, /v1/models) with llama.cpp's sampling extensions (top_k,
// min_p, repeat_penalty) and its `timings`. Requests are validated by JSON schema; unknown fields are ignored.
import { randomUUID } from "node:crypto";
import type { FastifyInstance, FastifyReply } from "fastify";
import type { ChatMessage, CompletionChunk } from "@cpu-llm/engine";
import type { GenerationEvent } from "./engineHost.js";
import type { GenerateRequest, GenerationOptions, Timings } from "./protocol.js";
import { HttpError, httpErrorOf, type ServerContext } from "./server.js";
import { optionSchema } from "./optionSchema.js";
import { OPENAI_STRUCTURED_SCHEMA, openAiConstraint } from "./structuredOutput.js";
import { callsOfOpenAi, checkToolsAlone, OPENAI_TOOL_SCHEMA, toolOptions } from "./toolRequests.js";
import { OPENAI_UNIMPLEMENTED_SCHEMA, refuseOpenAiUnimplemented } from "./unimplemented.js";

const number = { type: ["number", "null"] };
const SAMPLING = {
  max_tokens: { type: ["integer", "null"], minimum: 1 },
  max_completion_tokens: { type: ["integer", "null"], minimum: 1 },
  // The engine's ranges (llama-server's: temperature and penalties are not capped at OpenAI's 2).
  temperature: optionSchema("temperature", true),
  top_p: optionSchema("topP", true),
  top_k: optionSchema("topK", true),
  min_p: optionSchema("minP", true),
  seed: optionSchema("seed", true),
  presence_penalty: optionSchema("presencePenalty", true),
  frequency_penalty: optionSchema("frequencyPenalty", true),
  repeat_penalty: optionSchema("repeatPenalty", true),
  logit_bias: { type: ["object", "null"], additionalProperties: number },
  stop: { anyOf: [{ type: "string" }, { type: "array", items: { type: "string" }, maxItems: 16 }, { type: "null" }] },
  n: { type: ["integer", "null"], minimum: 1 },
  stream: { type: ["boolean", "null"] },
  stream_options: { type: ["object", "null"], properties: { include_usage: { type: ["boolean", "null"] } } },
  model: { type: ["string", "null"] },
  ...OPENAI_STRUCTURED_SCHEMA,
} as const;

const CONTENT = {
  anyOf: [
    { type: "string" },
    { type: "null" },
    { type: "array", items: { type: "object", required: ["type"], properties: { type: { type: "string" }, text: { type: "string" } } } },
  ],
};

const CHAT_SCHEMA = {
  type: "object",
  required: ["messages"],
  properties: {
    ...SAMPLING,
    ...OPENAI_UNIMPLEMENTED_SCHEMA,
    ...OPENAI_TOOL_SCHEMA,
    messages: {
      type: "array", minItems: 1,
      items: {
        type: "object", required: ["role"],
        properties: {
          role: { type: "string", enum: ["system", "developer", "user", "assistant", "tool", "function"] }, content: CONTENT,
          tool_calls: { type: ["array", "null"], items: { type: "object" } }, tool_call_id: { type: ["string", "null"] }, name: { type: ["string", "null"] },
        },
      },
    },
    logprobs: { type: ["boolean", "null"] },
    top_logprobs: { type: ["integer", "null"], minimum: 0, maximum: 20 },
    reasoning_format: { type: ["string", "null"], enum: ["deepseek", "auto", "none", null] },
  },
} as const;

const COMPLETION_SCHEMA = {
  type: "object",
  required: ["prompt"],
  properties: {
    ...SAMPLING,
    prompt: { anyOf: [{ type: "string" }, { type: "array", items: { type: "string" }, minItems: 1, maxItems: 1 }] },
    logprobs: { type: ["integer", "null"], minimum: 0, maximum: 20 },
    echo: { type: ["boolean", "null"] },
  },
} as const;

type Sampling = { [K in keyof typeof SAMPLING]?: unknown };
interface ChatBody extends Sampling {
  messages: {
    role: string; content?: string | null | { type: string; text?: string }[];
    tool_calls?: Parameters<typeof callsOfOpenAi>[0]; tool_call_id?: string | null; name?: string | null;
  }[];
  tools?: unknown;
  tool_choice?: unknown;
  parallel_tool_calls?: boolean | null;
  reasoning_format?: "deepseek" | "auto" | "none" | null;
  logprobs?: boolean | null;
  top_logprobs?: number | null;
}
interface CompletionBody extends Sampling {
  prompt: string | string[];
  logprobs?: number | null;
  echo?: boolean | null;
}

/** The body's sampling fields as engine options (null = unset). */
export function samplingOf(body: Sampling, logprobs: number): GenerationOptions {
  const b = body as Record<string, unknown>;
  if (typeof b.n === "number" && b.n > 1) throw new HttpError(400, "n > 1 is not supported: one choice per request (send several requests; they are decoded together)");
  const num = (k: string) => (typeof b[k] === "number" ? (b[k] as number) : undefined);
  const stop = typeof b.stop === "string" ? [b.stop] : Array.isArray(b.stop) ? (b.stop as string[]) : undefined;
  const bias = b.logit_bias && typeof b.logit_bias === "object" ? (b.logit_bias as Record<string, number | null>) : undefined;
  const logitBias: Record<number, number> = {};
  for (const [id, v] of Object.entries(bias ?? {})) {
    if (!/^\d+$/.test(id)) throw new HttpError(400, `logit_bias keys are token ids, got '${id}'`);
    if (typeof v === "number") logitBias[Number(id)] = v;
  }
  const options: GenerationOptions = {
    ...openAiConstraint(b),
    maxTokens: num("max_completion_tokens") ?? num("max_tokens"), temperature: num("temperature"), topP: num("top_p"), topK: num("top_k"),
    minP: num("min_p"), seed: num("seed"), presencePenalty: num("presence_penalty"), frequencyPenalty: num("frequency_penalty"),
    repeatPenalty: num("repeat_penalty"), stop, logitBias: bias ? logitBias : undefined, logprobs: logprobs || undefined,
  };
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as GenerationOptions;
}

function textOf(content: ChatBody["messages"][number]["content"]): string {
  if (content === undefined || content === null) return "";
  if (typeof content === "string") return content;
  return content.map((p) => {
    if (p.type !== "text") throw new HttpError(400, `message content of type '${p.type}' is not supported (text only)`);
    return p.text ?? "";
  }).join("");
}

const created = () => Math.floor(Date.now() / 1000);
const sse = (reply: FastifyReply, data: unknown) => reply.raw.write(`data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`);

function openSse(reply: FastifyReply): void {
  reply.hijack();
  reply.raw.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
}

/** A generation failing after its start: in a stream, an error event; else an error response. */
function failLate(reply: FastifyReply, streaming: boolean, e: Extract<GenerationEvent, { type: "error" }>): void {
  const http = httpErrorOf(e.error);
  const body = { error: { message: http.message, type: http.type, code: http.status } };
  if (streaming) {
    if (!reply.raw.writableEnded) {
      sse(reply, body);
      reply.raw.end();
    }
  } else void reply.code(http.status).send(body);
}

type TopEntry = { tokenId: number; logprob: number; text?: string };
const tokenLogprob = (c: CompletionChunk, top: number) => {
  const entry = (t: TopEntry) => ({ token: t.text ?? "", logprob: t.logprob, bytes: [...Buffer.from(t.text ?? "")] });
  const chosen = (c.top as TopEntry[] | undefined)?.find((t) => t.tokenId === c.tokenId);
  return { token: chosen?.text ?? c.text, logprob: c.logprob ?? 0, bytes: [...Buffer.from(chosen?.text ?? c.text)], top_logprobs: (c.top as TopEntry[] | undefined ?? []).slice(0, top).map(entry) };
};

export function registerOpenAi(app: FastifyInstance, ctx: ServerContext): void {
  const usageOf = (promptTokens: number, completion: number) => ({ prompt_tokens: promptTokens, completion_tokens: completion, total_tokens: promptTokens + completion });

  const modelEntry = () => ({
    id: ctx.modelName(), object: "model", created: created(), owned_by: "cpu-llm",
    meta: ctx.engine.info ? { n_ctx: ctx.engine.info.contextSize, size: ctx.engine.info.sizeBytes, n_params: ctx.engine.info.parameters } : undefined,
  });
  app.get("/v1/models", async () => ({ object: "list", data: [modelEntry()] }));
  // The openai client's models.retrieve: the one model, by its name.
  app.get<{ Params: { id: string } }>("/v1/models/:id", async (request) => {
    if (request.params.id !== ctx.modelName()) throw new HttpError(404, `model '${request.params.id}' does not exist: this server serves '${ctx.modelName()}'`, "not_found_error");
    return modelEntry();
  });

  app.post<{ Body: ChatBody }>("/v1/chat/completions", { schema: { body: CHAT_SCHEMA } }, async (request, reply) => {
    const body = request.body;
    refuseOpenAiUnimplemented(body as unknown as Record<string, unknown>);
    const top = body.logprobs ? (body.top_logprobs ?? 0) : 0;
    const messages: ChatMessage[] = body.messages.map((m, i) => ({
      role: (m.role === "developer" ? "system" : m.role) as ChatMessage["role"], content: textOf(m.content), ...callsOfOpenAi(m.tool_calls, i),
      ...(m.tool_call_id ? { toolCallId: m.tool_call_id } : {}), ...(m.name ? { name: m.name } : {}),
    }));
    const tools = toolOptions(body.tools, body.tool_choice, body.parallel_tool_calls);
    const sampling = samplingOf(body, body.logprobs ? Math.max(1, top) : 0);
    checkToolsAlone(tools, sampling, "response_format, grammar or json_schema (unless tool_choice is none)");
    const options = { ...sampling, ...tools };
    // llama-server's reasoning_format: text inside <think>…</think> goes to reasoning_content, unless "none";
    // unset, the engine splits when the template opens a think block (DeepSeek-R1 and its distills).
    const format = body.reasoning_format === "none" ? "none" : body.reasoning_format ? "deepseek" : undefined;
    const req: GenerateRequest = { kind: "chat", messages, options: format ? { ...options, reasoningFormat: format } : options };
    return respond(req, reply, !!body.stream, !!(body.stream_options as { include_usage?: boolean } | null)?.include_usage, "chat", top, !!body.logprobs);
  });

  app.post<{ Body: CompletionBody }>("/v1/completions", { schema: { body: COMPLETION_SCHEMA } }, async (request, reply) => {
    const body = request.body;
    const prompt = Array.isArray(body.prompt) ? body.prompt[0] : body.prompt;
    const top = body.logprobs ?? 0;
    const req: GenerateRequest = { kind: "complete", prompt, options: samplingOf(body, top) };
    return respond(req, reply, !!body.stream, !!(body.stream_options as { include_usage?: boolean } | null)?.include_usage, "text", top, top > 0);
  });

  async function respond(req: GenerateRequest, reply: FastifyReply, stream: boolean, includeUsage: boolean, kind: "chat" | "text", top: number, wantLogprobs: boolean) {
    const { generation, started } = await ctx.start(req, reply);
    const id = `${kind === "chat" ? "chatcmpl" : "cmpl"}-${randomUUID()}`;
    const base = { id, object: kind === "chat" ? "chat.completion.chunk" : "text_completion", created: created(), model: ctx.modelName() };
    const finish = (r: { finishReason: string }) => (r.finishReason === "length" ? "length" : r.finishReason === "toolCalls" ? "tool_calls" : "stop");
    const logprobsOf = (chunks: CompletionChunk[]) => {
      if (!wantLogprobs) return null;
      const entries = chunks.filter((c) => c.tokenId >= 0).map((c) => tokenLogprob(c, top));
      if (kind === "chat") return { content: entries };
      return { tokens: entries.map((e) => e.token), token_logprobs: entries.map((e) => e.logprob), top_logprobs: entries.map((e) => Object.fromEntries(e.top_logprobs.map((t) => [t.token, t.logprob]))) };
    };
    if (stream) {
      openSse(reply);
      if (kind === "chat") sse(reply, { ...base, choices: [{ index: 0, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }] });
      for await (const e of generation) {
        if (e.type === "chunk") {
          if (!e.chunk.text && !e.chunk.reasoning && !e.chunk.toolCalls && !wantLogprobs) continue;
          const lp = logprobsOf([e.chunk]);
          // A call arrives whole, as one delta with its index, id, name and arguments (what the AI SDK needs).
          const calls = e.chunk.toolCalls ? { tool_calls: e.chunk.toolCalls.map(({ index, id, type, function: f }) => ({ index, id, type, function: f })) } : {};
          const delta = {
            ...(e.chunk.reasoning ? { reasoning_content: e.chunk.reasoning } : {}), ...(e.chunk.text || (!e.chunk.reasoning && !e.chunk.toolCalls) ? { content: e.chunk.text } : {}), ...calls,
          };
          const choice = kind === "chat" ? { index: 0, delta, logprobs: lp, finish_reason: null } : { index: 0, text: e.chunk.text, logprobs: lp, finish_reason: null };
          sse(reply, { ...base, choices: [choice] });
        } else if (e.type === "done") {
          if (e.result.finishReason === "abort") break; // the client left
          const last = kind === "chat" ? { index: 0, delta: {}, logprobs: null, finish_reason: finish(e.result) } : { index: 0, text: "", logprobs: null, finish_reason: finish(e.result) };
          sse(reply, { ...base, choices: [last], timings: timingsOf(e.timings) });
          if (includeUsage) sse(reply, { ...base, choices: [], usage: usageOf(started.promptTokens, e.result.generatedTokens) });
          sse(reply, "[DONE]");
        } else if (e.type === "error") {
          failLate(reply, true, e);
          return;
        }
      }
      reply.raw.end();
      return;
    }
    const chunks: CompletionChunk[] = [];
    for await (const e of generation) {
      if (e.type === "chunk") chunks.push(e.chunk);
      else if (e.type === "error") return failLate(reply, false, e);
      else if (e.type === "done") {
        const text = e.result.text;
        const choice = kind === "chat"
          ? {
            index: 0,
            message: {
              role: "assistant", content: e.result.toolCalls && !text ? null : text, ...(e.result.reasoning ? { reasoning_content: e.result.reasoning } : {}),
              ...(e.result.toolCalls ? { tool_calls: e.result.toolCalls } : {}),
            },
            logprobs: logprobsOf(chunks), finish_reason: finish(e.result),
          }
          : { index: 0, text, logprobs: logprobsOf(chunks), finish_reason: finish(e.result) };
        return {
          ...base, object: kind === "chat" ? "chat.completion" : "text_completion", choices: [choice],
          usage: usageOf(started.promptTokens, e.result.generatedTokens), timings: timingsOf(e.timings),
        };
      }
    }
  }
}

/** llama-server's `timings` object. */
export function timingsOf(t: Timings) {
  return { ...t, prompt_per_second: t.prompt_ms > 0 ? (t.prompt_n * 1000) / t.prompt_ms : 0, predicted_per_token_ms: t.predicted_n > 0 ? t.predicted_ms / t.predicted_n : 0 };
}
