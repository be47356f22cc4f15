// ollama's API (/api/chat, /api/generate, /api/tags, /api/show, /api/ps, /api/version), so the `ollama` client
// and OpenWebUI work: NDJSON streaming (on by default), `options` as ollama names them, durations in ns.
import type { FastifyInstance, FastifyReply } from "fastify";
import type { ChatMessage, ToolCall } from "@cpu-llm/engine";
import { optionSchema as schemaOf } from "./optionSchema.js";
import type { GenerateRequest, GenerationOptions, Timings } from "./protocol.js";
import { HttpError, httpErrorOf, type ServerContext } from "./server.js";
import { OLLAMA_STRUCTURED_SCHEMA, ollamaConstraint } from "./structuredOutput.js";
import { callsOfOllama, checkToolsAlone, OLLAMA_TOOL_SCHEMA, toolOptions } from "./toolRequests.js";
import { OLLAMA_UNIMPLEMENTED_SCHEMA, refuseOllamaUnimplemented } from "./unimplemented.js";

const OPTIONS = {
  type: ["object", "null"],
  properties: {
    num_ctx: { type: "integer", minimum: 1 },
    num_predict: { type: "integer", minimum: -2 },
    temperature: schemaOf("temperature"),
    top_k: schemaOf("topK"),
    top_p: schemaOf("topP"),
    min_p: schemaOf("minP"),
    seed: schemaOf("seed"),
    stop: { type: "array", items: { type: "string" }, maxItems: 16 }, // as the OpenAI routes' stop
    repeat_penalty: schemaOf("repeatPenalty"),
    repeat_last_n: schemaOf("repeatLastN"),
    presence_penalty: schemaOf("presencePenalty"),
    frequency_penalty: schemaOf("frequencyPenalty"),
  },
} as const;

const MESSAGE = {
  type: "object", required: ["role"],
  properties: {
    role: { type: "string", enum: ["system", "user", "assistant", "tool"] }, content: { type: "string" },
    images: OLLAMA_UNIMPLEMENTED_SCHEMA.images, tool_calls: { type: "array", items: { type: "object" } }, tool_name: { type: "string" },
  },
} as const;
const CHAT_SCHEMA = {
  type: "object", required: ["messages"],
  properties: {
    model: { type: "string" }, messages: { type: "array", items: MESSAGE }, stream: { type: "boolean" }, think: { type: "boolean" }, options: OPTIONS,
    tools: OLLAMA_TOOL_SCHEMA.tools, format: OLLAMA_STRUCTURED_SCHEMA.format,
  },
} as const;
const GENERATE_SCHEMA = {
  type: "object",
  properties: {
    model: { type: "string" }, prompt: { type: "string" }, system: { type: "string" }, raw: { type: "boolean" }, stream: { type: "boolean" }, options: OPTIONS,
    format: OLLAMA_STRUCTURED_SCHEMA.format, images: OLLAMA_UNIMPLEMENTED_SCHEMA.images,
  },
} as const;

interface OllamaOptions {
  num_ctx?: number; num_predict?: number; temperature?: number; top_k?: number; top_p?: number; min_p?: number; seed?: number; stop?: string[];
  repeat_penalty?: number; repeat_last_n?: number; presence_penalty?: number; frequency_penalty?: number;
}

function optionsOf(o: OllamaOptions | null | undefined): GenerationOptions {
  const options: GenerationOptions = {
    // num_predict -1 (infinite) and -2 (fill the context) both mean "until the context is full" here.
    maxTokens: o?.num_predict !== undefined && o.num_predict > 0 ? o.num_predict : undefined,
    temperature: o?.temperature, topK: o?.top_k, topP: o?.top_p, minP: o?.min_p, seed: o?.seed, stop: o?.stop,
    repeatPenalty: o?.repeat_penalty, repeatLastN: o?.repeat_last_n, presencePenalty: o?.presence_penalty, frequencyPenalty: o?.frequency_penalty,
  };
  if (o?.num_predict === 0) throw new HttpError(400, "num_predict 0 asks for no tokens");
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as GenerationOptions;
}

const ns = (ms: number) => Math.round(ms * 1e6);

export function registerOllama(app: FastifyInstance, ctx: ServerContext): void {
  const details = () => {
    const info = ctx.engine.info;
    const b = info ? info.parameters / 1e9 : 0;
    return {
      parent_model: "", format: "gguf", family: info?.architecture ?? "", families: [info?.architecture ?? ""],
      parameter_size: b >= 1 ? `${b.toFixed(1)}B` : `${((info?.parameters ?? 0) / 1e6).toFixed(1)}M`, quantization_level: info?.quantization ?? "",
    };
  };
  const entry = () => ({
    name: ctx.modelName(), model: ctx.modelName(), modified_at: new Date().toISOString(), size: ctx.engine.info?.sizeBytes ?? 0,
    digest: "", details: details(),
  });

  app.get("/api/version", async () => ({ version: "0.12.0" }));
  app.get("/api/tags", async () => ({ models: ctx.engine.info ? [entry()] : [] }));
  app.get("/api/ps", async () => ({
    models: ctx.engine.info ? [{ ...entry(), expires_at: "9999-12-31T23:59:59Z", size_vram: 0, context_length: ctx.engine.info.contextSize }] : [],
  }));
  app.post("/api/show", async () => {
    const info = ctx.engine.info;
    if (!info) throw new HttpError(503, "Loading model", "unavailable_error", { "retry-after": "1" });
    return {
      modelfile: `FROM ${info.path}\n`, parameters: `num_ctx ${info.contextSize}`, template: info.chatTemplate, details: details(),
      model_info: { ...info.metadata, "general.parameter_count": info.parameters },
      // Every template takes tools: its own tools section, or the generic envelope (OpenWebUI's native calling looks here).
      capabilities: ["completion", "tools"],
    };
  });

  type OllamaMessage = { role: ChatMessage["role"]; content?: string; tool_calls?: Parameters<typeof callsOfOllama>[0]; tool_name?: string };
  app.post<{ Body: { messages: OllamaMessage[]; stream?: boolean; think?: boolean; options?: OllamaOptions; tools?: unknown } }>("/api/chat", { schema: { body: CHAT_SCHEMA } }, async (request, reply) => {
    const b = request.body;
    refuseOllamaUnimplemented(b as unknown as Record<string, unknown>);
    const messages: ChatMessage[] = b.messages.map((m, i) => ({ role: m.role, content: m.content ?? "", ...callsOfOllama(m.tool_calls, i), ...(m.tool_name ? { name: m.tool_name } : {}) }));
    // Thinking goes to message.thinking, as ollama puts it; `think: false` keeps the raw text.
    const constraint = ollamaConstraint(b), tools = toolOptions(b.tools, undefined, true);
    checkToolsAlone(tools, constraint, "format");
    const options = { ...optionsOf(b.options), ...constraint, ...tools, ...(b.think === false ? { reasoningFormat: "none" as const } : b.think ? { reasoningFormat: "deepseek" as const } : {}) };
    return respond({ kind: "chat", messages, options }, reply, b.stream ?? true, "chat");
  });

  app.post<{ Body: { prompt?: string; system?: string; raw?: boolean; stream?: boolean; options?: OllamaOptions } }>(
    "/api/generate", { schema: { body: GENERATE_SCHEMA } }, async (request, reply) => {
      const b = request.body;
      refuseOllamaUnimplemented(b as unknown as Record<string, unknown>);
      // An empty prompt loads the model in ollama: here it is loaded already.
      if (!b.prompt) return { model: ctx.modelName(), created_at: new Date().toISOString(), response: "", done: true, done_reason: "load" };
      const options = { ...optionsOf(b.options), ...ollamaConstraint(b) };
      // Like ollama: the prompt goes through the chat template as a user turn unless raw.
      const req: GenerateRequest = b.raw
        ? { kind: "complete", prompt: b.prompt, options }
        : { kind: "chat", messages: [...(b.system ? [{ role: "system" as const, content: b.system }] : []), { role: "user", content: b.prompt }], options };
      return respond(req, reply, b.stream ?? true, "generate");
    },
  );

  async function respond(req: GenerateRequest, reply: FastifyReply, stream: boolean, kind: "chat" | "generate") {
    const startedAt = performance.now();
    const { generation, started } = await ctx.start(req, reply);
    // ollama's tool calls: the arguments as an object, no id.
    const callsOf = (calls: readonly ToolCall[] | undefined) => (calls?.length ? { tool_calls: calls.map((c) => ({ function: { name: c.function.name, arguments: JSON.parse(c.function.arguments) } })) } : {});
    const line = (text: string, done: boolean, thinking?: string, calls?: readonly ToolCall[]) => ({
      model: ctx.modelName(), created_at: new Date().toISOString(),
      ...(kind === "chat" ? { message: { role: "assistant", content: text, ...(thinking ? { thinking } : {}), ...callsOf(calls) } } : { response: text, ...(thinking ? { thinking } : {}) }), done,
    });
    const final = (timings: Timings, finishReason: string) => ({
      done_reason: finishReason === "length" ? "length" : "stop", total_duration: ns(performance.now() - startedAt), load_duration: 0,
      prompt_eval_count: started.promptTokens, prompt_eval_duration: ns(timings.prompt_ms), eval_count: timings.predicted_n, eval_duration: ns(timings.predicted_ms),
    });
    if (stream) {
      reply.hijack();
      reply.raw.writeHead(200, { "content-type": "application/x-ndjson" });
      for await (const e of generation) {
        if (e.type === "chunk" && (e.chunk.text || e.chunk.reasoning || e.chunk.toolCalls)) reply.raw.write(`${JSON.stringify(line(e.chunk.text, false, e.chunk.reasoning, e.chunk.toolCalls))}\n`);
        else if (e.type === "done" && e.result.finishReason !== "abort") reply.raw.write(`${JSON.stringify({ ...line("", true), ...final(e.timings, e.result.finishReason) })}\n`);
        else if (e.type === "error") reply.raw.write(`${JSON.stringify({ error: httpErrorOf(e.error).message })}\n`);
      }
      reply.raw.end();
      return;
    }
    for await (const e of generation) {
      if (e.type === "error") throw httpErrorOf(e.error);
      if (e.type === "done") return { ...line(e.result.text, true, e.result.reasoning, e.result.toolCalls), ...final(e.timings, e.result.finishReason) };
    }
  }
}
