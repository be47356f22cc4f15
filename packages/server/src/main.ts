#!/usr/bin/env node
// engine-serve: loads a GGUF model on its own thread and serves OpenAI's and ollama's HTTP APIs over it.
import { exitOnUnsupportedNode } from "@cpu-llm/engine";
import { EngineHost } from "./engineHost.js";
import { HELP, OptionError, parseServeArgs } from "./options.js";
import { createServer } from "./server.js";

exitOnUnsupportedNode("engine-serve");

let options;
try {
  options = parseServeArgs(process.argv.slice(2));
} catch (e) {
  if (!(e instanceof OptionError)) throw e;
  process.stderr.write(`engine-serve: ${e.message}\nusage: engine-serve [MODEL] [options] (--help for the list)\n`);
  process.exit(2);
}
if (options === "help") {
  process.stdout.write(HELP);
  process.exit(0);
}

const engine = new EngineHost({
  model: options.model, threads: options.threads, contextSize: options.contextSize, parallel: options.parallel,
  cacheTypeK: options.cacheTypeK, cacheTypeV: options.cacheTypeV, numa: options.numa !== "off", chatTemplate: options.chatTemplate,
});
const app = createServer(engine, options);
// Listen at once: /health answers 503 with the load progress until the model is ready, as llama-server does.
const address = await app.listen({ host: options.host, port: options.port }).catch((e: Error) => {
  process.stderr.write(`engine-serve: cannot listen on ${options.host}:${options.port}: ${e.message}\n`);
  process.exit(1);
});
process.stderr.write(`engine-serve: loading ${options.model}\n`);
engine.ready.then(
  (info) => {
    process.stderr.write(`${info.systemLine}\nengine-serve: ${info.name} ready in ${(info.loadMs / 1000).toFixed(2)} s, listening on ${address}\n`);
  },
  (e: Error) => {
    process.stderr.write(`engine-serve: ${e.message}\n`);
    process.exitCode = 1;
    void app.close().then(() => engine.close());
  },
);

// SIGTERM / SIGINT: stop accepting, let running requests finish within the grace period, then cancel them; exit 0.
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  process.stderr.write("engine-serve: stopping\n");
  // Past the grace period: cancel what still runs and drop the connections (a client that stopped reading
  // would otherwise hold the server open).
  const grace = setTimeout(() => {
    app.server.closeAllConnections();
    void engine.close();
  }, options.graceMs);
  await app.close();
  clearTimeout(grace);
  await engine.close();
  process.exit(process.exitCode ?? 0);
};
process.on("SIGTERM", () => void stop());
process.on("SIGINT", () => void stop());
