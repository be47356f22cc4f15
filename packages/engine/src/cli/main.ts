#!/usr/bin/env node
// Entry point: checks the Node version before loading anything else, then dispatches a subcommand.
import { exitOnUnsupportedNode } from "../nodeVersion.js";

exitOnUnsupportedNode("cpu-llm");

// A reader that goes away (`cpu-llm run … | head -c 20`) ends the command quietly, as other Unix tools do.
process.stdout.on("error", (e: NodeJS.ErrnoException) => {
  if (e.code !== "EPIPE") throw e;
  process.exit(0);
});

const { runCli } = await import("./runCli.js");
process.exitCode = await runCli(process.argv.slice(2));
