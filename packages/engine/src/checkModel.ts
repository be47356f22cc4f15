// Whether loadModel would accept a file, found without placing anything: its architecture and keys, every
// tensor the architecture reads (present, shaped as the keys say, of a type the kernels compute) and its
// vocabulary; and which tensors a load would leave unread. `cpu-llm inspect` reports it.
import { UnsupportedTensorTypeError } from "@cpu-llm/kernels";
import { architectureOf } from "./arch/registry.js";
import { checkTensorsAgree, modelHparams, readModelWeights } from "./arch/transformer.js";
import { Weights } from "./arch/weights.js";
import { ModelFormatError, UnsupportedArchitectureError } from "./errors.js";
import { GgufFormatError } from "./gguf/errors.js";
import type { GgufFile } from "./gguf/readGguf.js";
import { TokenizerError } from "./tokenizer/errors.js";
import { Tokenizer } from "./tokenizer/tokenizer.js";

export interface ModelCheck {
  readonly loadable: boolean;
  /** Why not, in the words loadModel would throw. */
  readonly problem?: string;
  /** Tensors of the file the architecture does not read. */
  readonly unusedTensors: readonly string[];
}

export function checkModel(file: GgufFile): ModelCheck {
  if (!file.path) throw new Error("checkModel needs a GgufFile read from a path");
  const f = file as GgufFile & { path: string };
  try {
    const hp = modelHparams(f);
    checkTensorsAgree(f, hp);
    const w = new Weights(f, undefined, hp, 1);
    readModelWeights(architectureOf(f), w, hp);
    Tokenizer.fromGguf(f);
    return { loadable: true, unusedTensors: f.tensors.filter((t) => !w.used.has(t.name)).map((t) => t.name) };
  } catch (e) {
    const known = e instanceof ModelFormatError || e instanceof UnsupportedArchitectureError || e instanceof UnsupportedTensorTypeError
      || e instanceof TokenizerError || e instanceof GgufFormatError;
    if (!known) throw e;
    return { loadable: false, problem: (e as Error).message, unusedTensors: [] };
  }
}
