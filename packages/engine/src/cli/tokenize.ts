import { readGguf } from "../gguf/readGguf.js";
import { Tokenizer } from "../tokenizer/tokenizer.js";
import { parseModelArgs, UsageError } from "./usage.js";

const USAGE = "tokenize MODEL --text TEXT [--no-bos] [--special] [--json]";

export function tokenizeCommand(args: string[]): void {
  const { model, values } = parseModelArgs(
    args,
    {
      text: { type: "string" },
      "no-bos": { type: "boolean", default: false },
      special: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
    },
    USAGE,
  );
  if (values.text === undefined) throw new UsageError(`--text is required\nusage: cpu-llm ${USAGE}`);
  const tokenizer = Tokenizer.fromGguf(readGguf(model));
  for (const w of tokenizer.vocab.warnings) process.stderr.write(`warning: ${w}\n`);
  const ids = tokenizer.encode(values.text as string, { addSpecial: !values["no-bos"], parseSpecial: values.special as boolean });
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ ids })}\n`);
    return;
  }
  for (const id of ids) {
    const piece = new TextDecoder().decode(tokenizer.tokenToPiece(id, true));
    process.stdout.write(`${String(id).padStart(7)} -> ${JSON.stringify(piece)}\n`);
  }
}
