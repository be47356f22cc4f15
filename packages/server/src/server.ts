// The HTTP layer (Fastify, with its JSON-schema validation): health, metrics, auth, limits, and the shared
// path of every generating request — readiness, the queue bound, starting it on the engine thread, aborting it
// when the client goes away. The OpenAI and ollama routes only translate.
import { createHash, timingSafeEqual } from "node:crypto";
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import type { EngineHost, Generation, GenerationEvent } from "./engineHost.js";
import { prometheusText } from "./metrics.js";
import { registerOllama } from "./ollama.js";
import { registerOpenAi } from "./openai.js";
import type { ServeOptions } from "./options.js";
import type { EngineError, GenerateRequest } from "./protocol.js";

/** An HTTP error the routes raise; each API renders it in its own shape. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type = "invalid_request_error",
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export interface ServerContext {
  readonly engine: EngineHost;
  readonly options: ServeOptions;
  /** The model's name in the API. */
  modelName(): string;
  /**
   * Starts a generation and waits until it is on a slot (or failed before): HttpError 503 while loading, 429
   * when the slots and the queue are full, 400 for a prompt that does not fit. The generation is aborted if
   * the client disconnects before it ends.
   */
  start(request: GenerateRequest, reply: FastifyReply): Promise<{ generation: Generation; started: Extract<GenerationEvent, { type: "started" }> }>;
}

/** An engine error as an HTTP error: a prompt that does not fit is the client's (400, with the counts). */
export function httpErrorOf(error: EngineError): HttpError {
  if (error.name === "ContextOverflowError") {
    return new HttpError(400, `${error.message}: the prompt has ${error.promptTokens} tokens and ${error.maxTokens} more are to be generated, ` +
      `but a slot holds ${error.contextSize} (lower max_tokens, shorten the prompt, or start the server with a larger --ctx-size)`, "exceed_context_size_error");
  }
  if (["TokenizerError", "RangeError", "TemplateError", "InvalidOptionError", "ChatMessagesError", "GrammarError", "JsonSchemaError", "GrammarDeadEndError"].includes(error.name)) {
    return new HttpError(400, error.message);
  }
  return new HttpError(500, error.message, "server_error");
}

const digest = (s: string) => createHash("sha256").update(s).digest();

export function createServer(engine: EngineHost, options: ServeOptions): FastifyInstance {
  const app = Fastify({
    bodyLimit: options.bodyLimit,
    // Slow clients: a connection silent both ways for idleTimeoutMs is closed; a request whose headers and body
    // have not all arrived within requestTimeoutMs is a 408 (Node checks every connectionsCheckingInterval);
    // beyond maxConnections (set below) new sockets are closed at once. Without these a client that sends
    // headers and never the body holds its socket forever (Fastify sets Node's requestTimeout to 0).
    connectionTimeout: options.idleTimeoutMs,
    requestTimeout: options.requestTimeoutMs,
    http: {
      headersTimeout: options.requestTimeoutMs,
      connectionsCheckingInterval: Math.min(30_000, Math.max(50, options.requestTimeoutMs / 4)),
    },
    logger: false,
    // Types are checked, not coerced ("0.5" is not a number); unknown fields are ignored, as OpenAI's API does.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false } },
  });
  // ollama accepts JSON bodies whatever their content type (curl -d sends a form type): so do we, with one
  // parser for every type that refuses prototype poisoning by name.
  app.removeContentTypeParser("application/json");
  const parseJson = (_request: FastifyRequest, body: string | Buffer, done: (e: Error | null, v?: unknown) => void) => {
    try {
      done(null, body === "" ? undefined : JSON.parse(body as string, refusePrototypeKeys));
    } catch (e) {
      const message = e instanceof PoisonedBodyError ? e.message : "Body is not valid JSON";
      done(Object.assign(new Error(message), { statusCode: 400 }), undefined);
    }
  };
  app.addContentTypeParser("application/json", { parseAs: "string" }, parseJson);
  app.addContentTypeParser("*", { parseAs: "string" }, parseJson);
  // A list of types ("application/json, text/plain", as some clients send) is read as its first: Fastify
  // would answer 415 to the list itself.
  app.addHook("onRequest", async (request) => {
    const type = request.headers["content-type"];
    if (type?.includes(",")) request.headers["content-type"] = type.split(",")[0].trim();
  });
  const keyDigest = options.apiKey === undefined ? undefined : digest(options.apiKey);
  const context: ServerContext = {
    engine,
    options,
    modelName: () => options.alias ?? engine.info?.name ?? "model",
    async start(request, reply) {
      if (engine.state === "loading") throw new HttpError(503, `Loading model (${Math.round(engine.progress * 100)}%)`, "unavailable_error", { "retry-after": "1" });
      if (engine.state === "failed") throw new HttpError(500, `the model failed to load: ${engine.failure?.message}`, "server_error");
      if (engine.active >= options.parallel + options.queue) {
        throw new HttpError(429, `all ${options.parallel} slots are busy and ${options.queue} requests are waiting: try again later`, "rate_limit_error", { "retry-after": "1" });
      }
      const generation = engine.generate(request);
      let ended = false;
      reply.raw.on("close", () => {
        if (!ended) generation.abort();
      });
      const wrapped: Generation = {
        next: async () => {
          const e = await generation.next();
          if (e.type === "done" || e.type === "error") ended = true;
          return e;
        },
        abort: () => generation.abort(),
        async *[Symbol.asyncIterator]() {
          for (;;) {
            const e = await wrapped.next();
            yield e;
            if (e.type === "done" || e.type === "error") return;
          }
        },
      };
      const first = await wrapped.next();
      if (first.type === "error") throw httpErrorOf(first.error);
      if (first.type !== "started") throw new HttpError(500, `the engine answered ${first.type} before starting`, "server_error");
      return { generation: wrapped, started: first };
    },
  };

  if (options.cors) {
    app.addHook("onRequest", async (request, reply) => {
      reply.header("access-control-allow-origin", "*");
      reply.header("access-control-allow-headers", "authorization, content-type");
      reply.header("access-control-allow-methods", "GET, POST, OPTIONS");
      if (request.method === "OPTIONS") return reply.code(204).send();
    });
  }
  if (keyDigest) {
    app.addHook("onRequest", async (request, reply) => {
      if (request.url === "/health" || request.method === "OPTIONS") return;
      const header = request.headers.authorization ?? "";
      const given = header.startsWith("Bearer ") ? header.slice(7) : "";
      // Digests of equal length, compared in constant time: neither the key nor its length leaks through timing.
      if (!timingSafeEqual(digest(given), keyDigest)) {
        return reply.code(401).send(errorBody(request.url, new HttpError(401, "Invalid API Key", "authentication_error")));
      }
    });
  }

  app.setErrorHandler((error: FastifyError | HttpError, request: FastifyRequest, reply: FastifyReply) => {
    const http = error instanceof HttpError ? error : fastifyError(error as FastifyError);
    if (reply.sent || reply.raw.headersSent) return;
    return reply.code(http.status).headers(http.headers).send(errorBody(request.url, http));
  });
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send(errorBody(request.url, new HttpError(404, `no route for ${request.method} ${request.url}`, "not_found_error")));
  });

  app.get("/health", async (_request, reply) => {
    if (engine.state === "ready") return { status: "ok" };
    if (engine.state === "failed") return reply.code(500).send({ status: "error", error: engine.failure?.message });
    return reply.code(503).send({ status: "loading model", progress: engine.progress });
  });
  if (options.metrics) {
    app.get("/metrics", async (_request, reply) => reply.type("text/plain; version=0.0.4").send(prometheusText(engine)));
  }
  registerOpenAi(app, context);
  registerOllama(app, context);
  app.server.maxConnections = options.maxConnections;
  return app;
}

class PoisonedBodyError extends Error {}

/** JSON.parse's reviver: a key that would reach Object.prototype when merged (`__proto__`, `constructor.prototype`). */
function refusePrototypeKeys(key: string, value: unknown): unknown {
  if (key === "__proto__") throw new PoisonedBodyError("the body has a '__proto__' key, refused (prototype poisoning)");
  if (key === "constructor" && value !== null && typeof value === "object" && "prototype" in value) {
    throw new PoisonedBodyError("the body has a 'constructor.prototype' key, refused (prototype poisoning)");
  }
  return value;
}

/** An error in its API's shape: ollama's `{error: "..."}` under /api/, OpenAI's object elsewhere. */
function errorBody(url: string, http: HttpError) {
  return url.startsWith("/api/") ? { error: http.message } : { error: { message: http.message, type: http.type, param: null, code: http.status } };
}

/** Fastify's own errors (bad JSON, schema, size) as HTTP errors with their status. */
function fastifyError(error: FastifyError): HttpError {
  if (error.validation) return new HttpError(400, `invalid request: ${error.message}`);
  if (error.code === "FST_ERR_CTP_BODY_TOO_LARGE") return new HttpError(413, "request body is too large", "invalid_request_error");
  const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500;
  return new HttpError(status, error.message, status < 500 ? "invalid_request_error" : "server_error");
}
