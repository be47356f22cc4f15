#!/usr/bin/env node
// Entry point: checks the Node version before loading anything else, then dispatches a subcommand.
import { assertSupportedNode, UnsupportedNodeError } from "../nodeVersion.js";

try {
  assertSupportedNode();
} catch (e) {
  if (!(e instanceof UnsupportedNodeError)) throw e;
  process.stderr.write(`cpu-llm: ${e.message}\n`);
  process.exit(1);
}

// A reader that goes away (`cpu-llm run … | head -c 20`) ends the command quietly, as other Unix tools do.
process.stdout.on("error", (e: NodeJS.ErrnoException) => {
  if (e.code !== "EPIPE") throw e;
  process.exit(0);
});

const { runCli } = await import("./runCli.js");
process.exitCode = await runCli(process.argv.slice(2));
