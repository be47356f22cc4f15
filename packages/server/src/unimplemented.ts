// Request fields of the OpenAI and ollama APIs that the engine does not implement yet (tool calling, images). Ignoring them would answer 200 with text the client cannot use (the AI SDK's
// NoObjectGeneratedError, LangChain's parser errors), so they are refused with a 400 that names them; their
// shapes are checked by the routes' schemas, so garbage (`tools: "x"`) is a 400 either way.
import { HttpError } from "./server.js";

const TOOLS = "tool calling is not supported by this server yet";
const IMAGES = "images are not supported: this server runs text-only models";

/** JSON-schema fragments for the fields, so a wrong shape is a schema 400 before any of this. */
export const OPENAI_UNIMPLEMENTED_SCHEMA = {
  tools: { type: ["array", "null"], items: { type: "object" } },
  tool_choice: { anyOf: [{ type: "string" }, { type: "object" }, { type: "null" }] },
  functions: { type: ["array", "null"], items: { type: "object" } },
  function_call: { anyOf: [{ type: "string" }, { type: "object" }, { type: "null" }] },
  parallel_tool_calls: { type: ["boolean", "null"] },
} as const;

export const OLLAMA_UNIMPLEMENTED_SCHEMA = {
  tools: { type: "array", items: { type: "object" } },
  images: { type: "array", items: { type: "string" } },
} as const;

interface Message {
  role: string;
  tool_calls?: unknown;
  images?: unknown;
}

const some = (v: unknown) => (Array.isArray(v) ? v.length > 0 : v !== undefined && v !== null);

function refuseMessages(messages: readonly Message[] | undefined): void {
  (messages ?? []).forEach((m, i) => {
    if (m.role === "tool" || m.role === "function") throw new HttpError(400, `messages[${i}] has role '${m.role}': ${TOOLS}`);
    if (some(m.tool_calls)) throw new HttpError(400, `messages[${i}] has tool_calls: ${TOOLS}`);
    if (some(m.images)) throw new HttpError(400, `messages[${i}] has images: ${IMAGES}`);
  });
}

/** OpenAI: tools (unless empty), a tool_choice that asks for a call. */
export function refuseOpenAiUnimplemented(body: Record<string, unknown>): void {
  if (some(body.tools) || some(body.functions)) throw new HttpError(400, `'tools' given: ${TOOLS}`);
  const choice = body.tool_choice ?? body.function_call;
  if (choice !== undefined && choice !== null && choice !== "none" && choice !== "auto") {
    throw new HttpError(400, `'tool_choice' asks for a tool call: ${TOOLS}`);
  }
  refuseMessages(body.messages as Message[] | undefined);
}

/** ollama: tools, images. */
export function refuseOllamaUnimplemented(body: Record<string, unknown>): void {
  if (some(body.tools)) throw new HttpError(400, `'tools' given: ${TOOLS}`);
  if (some(body.images)) throw new HttpError(400, `'images' given: ${IMAGES}`);
  refuseMessages(body.messages as Message[] | undefined);
}
