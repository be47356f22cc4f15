// What `cpu-llm inspect` reports: a model's shape and an up-front memory estimate, from the header alone.
import { metaArray, metaNumber, metaString } from "./gguf/metadata.js";
import type { GgufFile } from "./gguf/readGguf.js";
import { GgufType } from "./gguf/values.js";
import { modelHparams } from "./arch/transformer.js";
import type { Hparams } from "./arch/hparams.js";
import { DEFAULT_KV_CACHE_TYPE, type KvCacheType } from "@cpu-llm/kernels";
import { kvBytesPerToken, scratchBytesEstimate } from "./memoryEstimate.js";
import { ModelFormatError, UnsupportedArchitectureError } from "./errors.js";
import { GgufFormatError } from "./gguf/errors.js";

export interface ModelDescription {
  file: string | undefined;
  fileBytes: number;
  ggufVersion: number;
  architecture: string | undefined;
  name: string | undefined;
  /** `{arch}.*` hyper-parameters, keys without the architecture prefix. */
  hyperParameters: Record<string, number | string>;
  tokenizer: { model: string | undefined; pre: string | undefined; tokens: number };
  tensorCount: number;
  /** Tensor count by ggml type name. */
  tensorTypes: Record<string, number>;
  parameters: number;
  weightBytes: number;
  memory: { contextSize: number; kvCacheType: KvCacheType; kvCacheBytes: number; scratchBytes: number; totalBytes: number };
}

const HYPER_KEYS = [
  "context_length", "embedding_length", "block_count", "feed_forward_length", "attention.head_count",
  "attention.head_count_kv", "attention.key_length", "attention.value_length", "attention.layer_norm_rms_epsilon",
  "attention.kv_lora_rank", "attention.q_lora_rank", "rope.dimension_count", "rope.freq_base", "rope.scaling.type",
  "rope.scaling.factor", "expert_count", "expert_used_count", "expert_shared_count", "expert_feed_forward_length",
  "leading_dense_block_count", "vocab_size",
];

export function describeModel(file: GgufFile, contextSize?: number): ModelDescription {
  const arch = metaString(file, "general.architecture");
  const hp = (key: string) => (arch ? file.metadata.get(`${arch}.${key}`)?.value : undefined);
  const hyperParameters: Record<string, number | string> = {};
  for (const key of HYPER_KEYS) {
    const v = hp(key);
    // f32 values print as the float32 they are (1e-5, not 0.000009999999747378752).
    if (typeof v === "number") hyperParameters[key] = file.metadata.get(`${arch}.${key}`)!.type === GgufType.FLOAT32 ? Number(v.toPrecision(7)) : v;
    else if (typeof v === "string") hyperParameters[key] = v;
    else if (typeof v === "bigint") hyperParameters[key] = Number(v);
  }

  const tensorTypes: Record<string, number> = {};
  let parameters = 0;
  let weightBytes = 0;
  for (const t of file.tensors) {
    tensorTypes[t.type.name] = (tensorTypes[t.type.name] ?? 0) + 1;
    parameters += t.nElements;
    weightBytes += t.nBytes;
  }

  const num = (key: string) => (arch ? metaNumber(file, `${arch}.${key}`) : undefined);
  const nLayer = num("block_count") ?? 0;
  const nEmbd = num("embedding_length") ?? 0;
  const nHead = num("attention.head_count") ?? 0;
  // head_count_kv may be an array (one per layer) in some architectures; take the largest.
  const kvArray = arch ? file.metadata.get(`${arch}.attention.head_count_kv`) : undefined;
  const nHeadKv =
    kvArray && typeof kvArray.value === "object"
      ? Math.max(...Array.from((metaArray(file, `${arch}.attention.head_count_kv`)!.items as ArrayLike<number>)))
      : (num("attention.head_count_kv") ?? nHead);
  const keyLength = num("attention.key_length") ?? (nHead ? nEmbd / nHead : 0);
  const valueLength = num("attention.value_length") ?? (nHead ? nEmbd / nHead : 0);
  const kvLoraRank = num("attention.kv_lora_rank");
  const ctx = contextSize ?? num("context_length") ?? 0;
  const hasWeights = file.tensors.length > 0;
  const tokens = metaArray(file, "tokenizer.ggml.tokens")?.items.length ?? 0;
  const nVocab = num("vocab_size") ?? tokens;
  const nFf = num("feed_forward_length") ?? 4 * nEmbd;
  // A model the engine can load: loadModel's own figures (memoryEstimate.ts). Any other: the same scratch, and
  // K and V of every KV head per token and layer, or MLA's compressed latent plus the RoPE part of the key.
  const engineHp = loadableHparams(file);
  const ropeDims = num("rope.dimension_count") ?? 0;
  const kvPerToken = engineHp ? kvBytesPerToken(engineHp, DEFAULT_KV_CACHE_TYPE)
    : 2 * nLayer * (kvLoraRank !== undefined ? kvLoraRank + ropeDims : nHeadKv * (keyLength + valueLength));
  const kvCacheBytes = hasWeights ? ctx * kvPerToken : 0;
  const scratchBytes = hasWeights ? scratchBytesEstimate(engineHp ?? { nVocab, nEmbd, nFf }) : 0;

  return {
    file: file.path,
    fileBytes: file.fileSize,
    ggufVersion: file.version,
    architecture: arch,
    name: metaString(file, "general.name"),
    hyperParameters,
    tokenizer: { model: metaString(file, "tokenizer.ggml.model"), pre: metaString(file, "tokenizer.ggml.pre"), tokens },
    tensorCount: file.tensors.length,
    tensorTypes,
    parameters,
    weightBytes,
    memory: {
      contextSize: ctx,
      kvCacheType: DEFAULT_KV_CACHE_TYPE,
      kvCacheBytes,
      scratchBytes,
      totalBytes: weightBytes + kvCacheBytes + scratchBytes,
    },
  };
}

/**
 * The engine's hyper-parameters when it knows this architecture and its keys are whole, else undefined (the
 * typed errors a load would throw for them; anything else is a bug and propagates).
 */
function loadableHparams(file: GgufFile): Hparams | undefined {
  try {
    return modelHparams(file);
  } catch (e) {
    if (e instanceof ModelFormatError || e instanceof UnsupportedArchitectureError || e instanceof GgufFormatError) return undefined;
    throw e;
  }
}
