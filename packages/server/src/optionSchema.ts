// JSON schemas for the engine's numeric options, from the engine's own table (NUMERIC_OPTIONS), so the OpenAI and
// ollama routes accept the same ranges as the library and the CLI: one place for each range.
import { NUMERIC_OPTIONS, type NumberRule, type NumericOption } from "@cpu-llm/engine";

/** The option's schema; `nullable` also accepts null (OpenAI clients send null for unset fields). */
export function optionSchema(option: NumericOption, nullable = false) {
  const rule: NumberRule = NUMERIC_OPTIONS[option];
  const type = rule.integer ? "integer" : "number";
  return {
    type: nullable ? [type, "null"] : type,
    ...(rule.min !== undefined ? { minimum: rule.min } : {}),
    ...(rule.max !== undefined ? { maximum: rule.max } : {}),
  };
}
