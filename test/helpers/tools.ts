// The tools the tool-calling tests offer (as llama-server's renderings in the fixtures do), with bounded string
// lengths so that random-weight models finish their arguments.
import type { ToolDefinition } from "@cpu-llm/engine";

export const TOOLS: ToolDefinition[] = [
  {
    type: "function",
    function: {
      name: "get_weather", description: "Get the current weather for a city.",
      parameters: { type: "object", properties: { city: { type: "string", maxLength: 12 }, unit: { type: "string", enum: ["celsius", "fahrenheit"] } }, required: ["city", "unit"] },
    },
  },
  {
    type: "function",
    function: { name: "search", description: "Search the web.", parameters: { type: "object", properties: { query: { type: "string", maxLength: 16 }, max_results: { type: "integer", minimum: 1, maximum: 10 } }, required: ["query"] } },
  },
];
