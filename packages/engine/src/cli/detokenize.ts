import { readGguf } from "../gguf/readGguf.js";
import { Tokenizer } from "../tokenizer/tokenizer.js";
import { parseModelArgs, UsageError } from "./usage.js";

const USAGE = "detokenize MODEL --ids 1,2,3 [--special]";

export function detokenizeCommand(args: string[]): void {
  const { model, values } = parseModelArgs(
    args,
    { ids: { type: "string" }, special: { type: "boolean", default: false } },
    USAGE,
  );
  const list = (values.ids as string | undefined)?.split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (!list) throw new UsageError(`--ids is required\nusage: cpu-llm ${USAGE}`);
  const ids = list.map((s) => {
    if (!/^\d+$/.test(s)) throw new UsageError(`--ids: '${s}' is not a token id`);
    return Number(s);
  });
  const tokenizer = Tokenizer.fromGguf(readGguf(model));
  process.stdout.write(`${tokenizer.decode(ids, { unparseSpecial: values.special as boolean })}\n`);
}
