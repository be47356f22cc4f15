// The architectures loadModel runs, by their `general.architecture` name.
import { UnsupportedArchitectureError } from "../errors.js";
import { metaString } from "../gguf/metadata.js";
import type { GgufFile } from "../gguf/readGguf.js";
import type { Architecture } from "./architecture.js";
import { baichuan } from "./baichuan.js";
import { deepseek2 } from "./deepseek2.js";
import { llama } from "./llama.js";
import { qwen2 } from "./qwen2.js";

export const ARCHITECTURES: ReadonlyMap<string, Architecture> = new Map([llama, qwen2, baichuan, deepseek2].map((a) => [a.name, a]));

/** The file's architecture; UnsupportedArchitectureError naming the supported ones otherwise. */
export function architectureOf(file: GgufFile): Architecture {
  const name = metaString(file, "general.architecture");
  const arch = name === undefined ? undefined : ARCHITECTURES.get(name);
  if (!arch) {
    const what = name === undefined ? "has no general.architecture" : `has architecture '${name}', which is not supported yet`;
    throw new UnsupportedArchitectureError(`${file.path ?? "GGUF"}: ${what} (supported: ${[...ARCHITECTURES.keys()].join(", ")})`);
  }
  return arch;
}
