// The hyper-parameters every decoder-only architecture here reads from `{arch}.*` keys (spelled as in GGUF,
// gguf-py constants.py), with llama.cpp's defaults where a key is optional (llama-model.cpp load_hparams).
import type { RopeParams } from "@cpu-llm/kernels";
import { ModelFormatError } from "../errors.js";
import { metaNumber, metaString } from "../gguf/metadata.js";
import type { GgufFile } from "../gguf/readGguf.js";

export interface Hparams {
  /** `general.architecture`: the prefix of every key below. */
  readonly arch: string;
  readonly nEmbd: number;
  readonly nLayer: number;
  readonly nHead: number;
  readonly nKvHead: number;
  readonly headDim: number;
  readonly nFf: number;
  readonly nVocab: number;
  readonly nCtxTrain: number;
  /** RMS norm epsilon. */
  readonly eps: number;
  readonly rope: RopeParams;
  /** ALiBi's maximum bias (Baichuan 13B: 8); 0 for models that take positions from RoPE. */
  readonly maxAlibiBias: number;
}

/** A key of the file's architecture, or undefined. */
export function archNumber(file: GgufFile, key: string): number | undefined {
  return metaNumber(file, `${metaString(file, "general.architecture")}.${key}`);
}

/** The common hyper-parameters; a ModelFormatError naming the key when a required one is missing or impossible. */
export function readHparams(file: GgufFile): Hparams {
  const arch = metaString(file, "general.architecture") ?? "llama";
  const path = file.path ?? "GGUF";
  const need = (key: string) => {
    const v = archNumber(file, key);
    if (v === undefined) throw new ModelFormatError(path, `${arch}.${key}`, "is missing");
    if (!(Number.isInteger(v) && v > 0)) throw new ModelFormatError(path, `${arch}.${key}`, `must be a positive integer, got ${v}`);
    return v;
  };
  const opt = (key: string) => archNumber(file, key);
  const nEmbd = need("embedding_length");
  const nHead = need("attention.head_count");
  const nKvHead = opt("attention.head_count_kv") ?? nHead;
  if (nHead % nKvHead !== 0) throw new ModelFormatError(path, `${arch}.attention.head_count_kv`, `(${nKvHead}) must divide attention.head_count (${nHead})`);
  const headDim = opt("attention.key_length") ?? nEmbd / nHead;
  const embd = file.tensors.find((t) => t.name === "token_embd.weight");
  const scaling = metaString(file, `${arch}.rope.scaling.type`);
  const factor = opt("rope.scaling.factor");
  return {
    arch,
    nEmbd,
    nLayer: need("block_count"),
    nHead,
    nKvHead,
    headDim,
    nFf: need("feed_forward_length"),
    nVocab: opt("vocab_size") ?? embd?.dims[1] ?? 0,
    nCtxTrain: opt("context_length") ?? 2048,
    eps: opt("attention.layer_norm_rms_epsilon") ?? 1e-5,
    rope: {
      nDims: opt("rope.dimension_count") ?? headDim,
      freqBase: opt("rope.freq_base") ?? 10000,
      freqScale: scaling === "linear" && factor ? 1 / factor : 1,
    },
    maxAlibiBias: 0,
  };
}
