// Request fields of the OpenAI and ollama APIs that the engine does not implement (images, OpenAI's deprecated
// `functions`). Ignoring them would answer 200 with text the client cannot use, so they are refused with a 400
// that names them; their shapes are checked by the routes' schemas, so garbage is a 400 either way.
import { HttpError } from "./server.js";

const IMAGES = "images are not supported: this server runs text-only models";
const FUNCTIONS = "is OpenAI's deprecated form of tool calling: send 'tools' (and 'tool_choice')";

/** JSON-schema fragments for the fields, so a wrong shape is a schema 400 before any of this. */
export const OPENAI_UNIMPLEMENTED_SCHEMA = {
  functions: { type: ["array", "null"], items: { type: "object" } },
  function_call: { anyOf: [{ type: "string" }, { type: "object" }, { type: "null" }] },
} as const;

export const OLLAMA_UNIMPLEMENTED_SCHEMA = {
  images: { type: "array", items: { type: "string" } },
} as const;

interface Message {
  role: string;
  images?: unknown;
}

const some = (v: unknown) => (Array.isArray(v) ? v.length > 0 : v !== undefined && v !== null);

function refuseMessages(messages: readonly Message[] | undefined): void {
  (messages ?? []).forEach((m, i) => {
    if (m.role === "function") throw new HttpError(400, `messages[${i}] has role 'function', which ${FUNCTIONS}`);
    if (some(m.images)) throw new HttpError(400, `messages[${i}] has images: ${IMAGES}`);
  });
}

/** OpenAI: functions / function_call, role 'function'. */
export function refuseOpenAiUnimplemented(body: Record<string, unknown>): void {
  if (some(body.functions)) throw new HttpError(400, `'functions' ${FUNCTIONS}`);
  if (some(body.function_call)) throw new HttpError(400, `'function_call' ${FUNCTIONS}`);
  refuseMessages(body.messages as Message[] | undefined);
}

/** ollama: images. */
export function refuseOllamaUnimplemented(body: Record<string, unknown>): void {
  if (some(body.images)) throw new HttpError(400, `'images' given: ${IMAGES}`);
  refuseMessages(body.messages as Message[] | undefined);
}
