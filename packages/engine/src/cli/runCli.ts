import { UnsupportedTensorTypeError } from "@cpu-llm/kernels";
import { GgufFormatError } from "../gguf/errors.js";
import { TokenizerError } from "../tokenizer/errors.js";
import { detokenizeCommand } from "./detokenize.js";
import { inspectCommand } from "./inspect.js";
import { systemCommand } from "./system.js";
import { runCommand } from "./run.js";
import { logitsCommand } from "./logits.js";
import { synthCommand } from "./synth.js";
import { benchCommand } from "./bench.js";
import { ChatMessagesError, ContextOverflowError, InsufficientMemoryError, ModelFormatError, NonFiniteLogitsError, UnsupportedArchitectureError } from "../errors.js";
import { InvalidOptionError } from "../options.js";
import { tokenizeCommand } from "./tokenize.js";
import { UsageError } from "./usage.js";

/** A command runs, and returns its exit code when it is not 0 (a check that found a problem). */
const COMMANDS: Record<string, { run: (args: string[]) => Promise<number | void> | number | void; summary: string }> = {
  inspect: { run: inspectCommand, summary: "inspect MODEL [--ctx N] [--check] [--json]   architecture, tensors, memory, loadable? (--check: every value finite?)" },
  tokenize: { run: tokenizeCommand, summary: "tokenize MODEL --text TEXT [--no-bos] [--special] [--json]" },
  detokenize: { run: detokenizeCommand, summary: "detokenize MODEL --ids 1,2,3 [--special]" },
  run: { run: runCommand, summary: "run [MODEL] -p PROMPT [-n N] [--temp --top-k --top-p --min-p --seed] [--kv] [--json]  (no MODEL: the bundled story model)" },
  logits: { run: logitsCommand, summary: "logits MODEL --ids 1,2,3 [--kv] [--top K] --json  teacher-forced logits" },
  bench: { run: benchCommand, summary: "bench MODEL [-p 512] [-n 128] [-t THREADS] [-r 3] [--json]   llama-bench's pp and tg tests" },
  synth: { run: synthCommand, summary: "synth --arch ARCH --preset NAME --type q4_0|q8_0|q4_k_m|… -o FILE   random-weight model of a real shape (llama, qwen2, baichuan, deepseek2)" },
  system: { run: systemCommand, summary: "system [--json]                         cores, NUMA, quota, threads, pinning, SIMD" },
};

const HELP = `usage: cpu-llm COMMAND ...\n\ncommands:\n${Object.values(COMMANDS).map((c) => `  ${c.summary}`).join("\n")}\n`;

/** Runs one CLI invocation; returns the exit code. Known errors become one line on stderr, not a stack. */
export async function runCli(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    process.stdout.write(HELP);
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`cpu-llm: unknown command '${name}'\n${HELP}`);
    return 2;
  }
  // Every subcommand prints its usage on -h/--help (before its own parser sees the flag).
  if (args.includes("-h") || args.includes("--help")) {
    process.stdout.write(`usage: cpu-llm ${command.summary}\n`);
    return 0;
  }
  try {
    return (await command.run(args)) ?? 0;
  } catch (e) {
    if (e instanceof UsageError || e instanceof InvalidOptionError || e instanceof ChatMessagesError) {
      process.stderr.write(`cpu-llm ${name}: ${e.message}\n`);
      return 2;
    }
    const known = e instanceof GgufFormatError || e instanceof TokenizerError || e instanceof UnsupportedTensorTypeError
      || e instanceof ContextOverflowError || e instanceof InsufficientMemoryError || e instanceof UnsupportedArchitectureError || e instanceof ModelFormatError
      || e instanceof NonFiniteLogitsError;
    const fsError = e instanceof Error && "code" in e && typeof e.code === "string" && "path" in e;
    if (known || fsError) {
      process.stderr.write(`cpu-llm ${name}: ${(e as Error).message}\n`);
      return 1;
    }
    throw e;
  }
}
