// Structured output requests as engine options: OpenAI's response_format (json_object, json_schema), llama-server's
// `grammar` and `json_schema` fields, ollama's `format` ("json" or a schema). Each is compiled here, on the HTTP
// thread, so an invalid schema or grammar is a 400 naming the field before the request reaches a slot.
import { GrammarError, JsonSchemaError, jsonSchemaToGbnf, parseGbnf } from "@cpu-llm/engine";
import type { GenerationOptions } from "./protocol.js";
import { HttpError } from "./server.js";

type Constraint = Pick<GenerationOptions, "grammar" | "jsonSchema">;

/** JSON mode (OpenAI's json_object, ollama's "json"): any JSON object, as llama-server's json_object does. */
const JSON_OBJECT = { type: "object" };

export const OPENAI_STRUCTURED_SCHEMA = {
  response_format: {
    type: ["object", "null"], required: ["type"],
    properties: {
      type: { type: "string" },
      json_schema: { type: "object", properties: { name: { type: "string" }, strict: { type: ["boolean", "null"] } } },
      schema: { type: "object" },
    },
  },
  grammar: { type: ["string", "null"] },
  json_schema: { type: ["object", "null"] },
} as const;

export const OLLAMA_STRUCTURED_SCHEMA = { format: { anyOf: [{ type: "string" }, { type: "object" }] } } as const;

/** OpenAI / llama-server fields: at most one of response_format (other than text), grammar, json_schema. */
export function openAiConstraint(body: Record<string, unknown>): Constraint {
  const found: [string, Constraint][] = [];
  const format = body.response_format as { type: string; json_schema?: { schema?: unknown }; schema?: unknown } | null | undefined;
  if (format && format.type !== "text") {
    if (format.type === "json_object") found.push(["response_format", { jsonSchema: format.schema ?? JSON_OBJECT }]);
    else if (format.type === "json_schema") {
      const schema = format.json_schema?.schema;
      if (schema === undefined) throw new HttpError(400, "response_format of type 'json_schema' needs json_schema.schema");
      found.push(["response_format.json_schema.schema", { jsonSchema: schema }]);
    } else {
      throw new HttpError(400, `response_format type '${format.type}' is not supported (text, json_object, json_schema)`);
    }
  }
  if (typeof body.grammar === "string" && body.grammar !== "") found.push(["grammar", { grammar: body.grammar }]);
  if (body.json_schema !== undefined && body.json_schema !== null) found.push(["json_schema", { jsonSchema: body.json_schema }]);
  if (found.length > 1) throw new HttpError(400, `${found.map(([f]) => f).join(" and ")} cannot both constrain one answer: give one`);
  return found.length ? checked(...found[0]) : {};
}

/** ollama's format: "json", a JSON schema, or "" (none). */
export function ollamaConstraint(body: Record<string, unknown>): Constraint {
  const format = body.format;
  if (format === undefined || format === "") return {};
  if (format === "json") return { jsonSchema: JSON_OBJECT };
  if (typeof format === "string") throw new HttpError(400, `format '${format}' is not supported: give "json" or a JSON schema`);
  return checked("format", { jsonSchema: format });
}

/** The constraint compiled once here: a fault is a 400 that names the request field. */
function checked(field: string, c: Constraint): Constraint {
  try {
    parseGbnf(c.grammar ?? jsonSchemaToGbnf(c.jsonSchema));
  } catch (e) {
    if (e instanceof GrammarError || e instanceof JsonSchemaError) throw new HttpError(400, `${field}: ${e.message}`);
    throw e;
  }
  return c;
}
