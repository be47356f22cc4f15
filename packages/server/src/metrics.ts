// /metrics in Prometheus text format with llama-server's metric names (tools/server/server-context.cpp), so
// dashboards made for llama-server work unchanged.
import type { EngineHost } from "./engineHost.js";

export function prometheusText(engine: EngineHost): string {
  const c = engine.counters;
  const metrics: [name: string, type: "counter" | "gauge", help: string, value: number][] = [
    ["prompt_tokens_total", "counter", "Number of prompt tokens processed.", c.promptTokens],
    ["prompt_seconds_total", "counter", "Prompt process time", c.promptSeconds],
    ["tokens_predicted_total", "counter", "Number of generation tokens processed.", c.predictedTokens],
    ["tokens_predicted_seconds_total", "counter", "Predict process time", c.predictedSeconds],
    ["requests_total", "counter", "Requests received.", c.requests],
    ["prompt_tokens_seconds", "gauge", "Average prompt throughput in tokens/s.", c.promptSeconds > 0 ? c.promptTokens / c.promptSeconds : 0],
    ["predicted_tokens_seconds", "gauge", "Average generation throughput in tokens/s.", c.predictedSeconds > 0 ? c.predictedTokens / c.predictedSeconds : 0],
    ["requests_processing", "gauge", "Number of requests processing.", c.processing],
    ["requests_deferred", "gauge", "Number of requests deferred.", c.deferred],
  ];
  return metrics.map(([name, type, help, value]) => `# HELP llamacpp:${name} ${help}\n# TYPE llamacpp:${name} ${type}\nllamacpp:${name} ${value}\n`).join("");
}
