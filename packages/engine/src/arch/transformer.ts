// A loaded decoder-only model of any registered architecture, and its forward pass over a batch of rows
// (each a token of some sequence at its own position), reading top to bottom like llama2.c's run.c: embed,
// the architecture's layers, the output head. Matrices live in the worker pool's arenas, sharded by rows, and
// every product takes all rows at once; the small per-row work (norms, RoPE, residuals) runs on the main
// thread's kernels; attention runs where the KV cache lives, each thread on its own KV heads (KvCache).
import { KvCache, type GgmlTypeTraits, type KvCacheLayout, type WorkerPool } from "@cpu-llm/kernels";
import { ModelFormatError } from "../errors.js";
import type { GgufFile } from "../gguf/readGguf.js";
import type { Architecture } from "./architecture.js";
import { loadOutputHead, outputLogits, type OutputHead } from "./blocks/outputHead.js";
import { TokenEmbedding } from "./blocks/tokenEmbedding.js";
import { archNumber, readHparams, type Hparams } from "./hparams.js";
import { Pass, type BatchRow } from "./pass.js";
import { architectureOf } from "./registry.js";
import { TENSOR } from "./tensorNames.js";
import { Weights } from "./weights.js";

export interface TransformerOptions {
  /** Most rows one forward pass takes (llama.cpp's n_ubatch): prompt chunks and decoding sequences together. Default 32. */
  readonly maxBatch?: number;
  /** Called as the weights are read, with the fraction of weight bytes read so far. */
  readonly onProgress?: (fraction: number) => void;
  /**
   * How stacked experts (MoE) are spread over the threads: each expert's rows split across all of them
   * ("rows": every thread works on every chosen expert), or whole experts dealt round-robin and run side by side
   * ("whole": a third of the dispatches, but a thread idles when the chosen experts fall unevenly). Default:
   * "whole" when a token chooses at least two experts per thread, else "rows". On 2 threads with V2-Lite's 6 of
   * 64, "whole" decoded 10-27% faster and prefilled 5-11% faster (`pnpm bench experts`, bench/RESULTS.md).
   */
  readonly expertPlacement?: "rows" | "whole";
}

/** The hyper-parameters of a file's architecture, as its model will run them (for memory plans before loading). */
export function modelHparams(file: GgufFile): Hparams {
  const arch = architectureOf(file);
  const hp = readHparams(file);
  return arch.hparams ? arch.hparams(hp, file as GgufFile & { path: string }) : hp;
}

/**
 * What every architecture's file must agree on before anything is placed: the token embedding is
 * (nEmbd, nVocab), and no layer lies beyond block_count (it would be silently ignored).
 */
export function checkTensorsAgree(file: GgufFile & { path: string }, hp: Hparams): void {
  const embd = file.tensors.find((t) => t.name === TENSOR.token_embd);
  if (!embd) throw new ModelFormatError(file.path, TENSOR.token_embd, "is missing: this architecture needs it");
  if (embd.dims[0] !== hp.nEmbd || embd.dims[1] !== hp.nVocab) {
    throw new ModelFormatError(file.path, TENSOR.token_embd, `has dims [${embd.dims.join(", ")}], expected [${hp.nEmbd}, ${hp.nVocab}] (embedding_length, vocabulary)`);
  }
  // Multi-token-prediction layers (nextn_predict_layers) follow the trunk's; nothing else may.
  const layers = hp.nLayer + (archNumber(file, "nextn_predict_layers") ?? 0);
  const stray = file.tensors.find((t) => Number(/^blk\.(\d+)\./.exec(t.name)?.[1] ?? -1) >= layers);
  if (stray) throw new ModelFormatError(file.path, `${hp.arch}.block_count`, `is ${hp.nLayer}, but the file has '${stray.name}'`);
}

/**
 * Everything a model reads from its file, in the order a load places it; on a checking Weights (no pool), the
 * same lookups and checks with nothing placed (checkModel).
 */
export function readModelWeights(arch: Architecture, w: Weights, hp: Hparams) {
  // Per-pair RoPE frequency divisors stored as a tensor (Llama 3.1's long-context scaling): ggml_rope_ext's
  // freq_factors, which llama.cpp passes for every architecture whose file has them.
  const withFactors = w.has(TENSOR.rope_freqs) ? { ...hp, rope: { ...hp.rope, freqFactors: w.floats(TENSOR.rope_freqs) } } : hp;
  const layers = Array.from({ length: hp.nLayer }, (_, il) => arch.loadLayer(w, il));
  const head = loadOutputHead(w, { tied: arch.tiedOutput });
  return { hp: withFactors, layers, head, embedding: w.tensor(TENSOR.token_embd) };
}

export class Transformer {
  private constructor(
    readonly arch: Architecture,
    readonly hp: Hparams,
    private readonly embedding: TokenEmbedding,
    private readonly layers: readonly unknown[],
    private readonly head: OutputHead,
    private readonly pass: Pass,
    private readonly scratch: unknown,
  ) {}

  /** Most rows one forward pass takes. */
  get maxBatch(): number {
    return this.pass.maxBatch;
  }

  /** Finds the file's architecture and places its weights in the pool's arenas (each thread reads its own rows). */
  static load(file: GgufFile, pool: WorkerPool, options: TransformerOptions = {}): Transformer {
    if (!file.path) throw new Error("Transformer.load needs a GgufFile read from a path");
    const f = file as GgufFile & { path: string };
    const arch = architectureOf(f);
    const hp = modelHparams(f);
    const maxBatch = options.maxBatch ?? 32;
    checkTensorsAgree(f, hp);
    const placement = options.expertPlacement ?? (hp.moe && hp.moe.nExpertUsed >= 2 * pool.threads ? "whole" : "rows");
    const w = new Weights(f, pool, hp, maxBatch, placement);
    const read = readModelWeights(arch, w, hp);
    const pass = new Pass(read.hp, pool.mainKernelsOf(0), w.mm, w, maxBatch);
    const scratch = arch.scratch?.(w, maxBatch);
    w.load(options.onProgress);
    return new Transformer(arch, read.hp, new TokenEmbedding(f.path, read.embedding), read.layers, read.head, pass, scratch);
  }

  /** A KV cache for this model's layers and heads on the same pool, with room for `maxBatch` rows a pass. */
  createCache(options: { readonly sequences: number; readonly contextSize: number; readonly keyType: GgmlTypeTraits; readonly valueType: GgmlTypeTraits }): KvCache {
    return new KvCache(this.pass.mm.pool, { ...this.cacheShape(), ...options, maxRows: this.maxBatch });
  }

  /** What the KV cache of this model stores per token, and how it is read (memory plans multiply KvCache.bytesPerToken by it). */
  cacheShape(): Pick<KvCacheLayout, "nLayer" | "nHead" | "nKvHead" | "headDim" | "maxAlibiBias" | "valueDim" | "valuesInKeys" | "scale"> {
    const { nLayer, nHead, nKvHead, headDim, maxAlibiBias, valueDim, valuesInKeys, attentionScale } = this.hp;
    return { nLayer, nHead, nKvHead, headDim, maxAlibiBias, valueDim, valuesInKeys, scale: attentionScale };
  }

  /**
   * Runs a batch of rows through the model: each row's key and value go to its own (sequence, position) cell,
   * and each row attends to its own sequence's cells up to its position. Returns the logits of the rows that
   * ask for them, in order (k × nVocab, row-major), valid until the next call.
   */
  forward(cache: KvCache, rows: readonly BatchRow[]): Float32Array {
    const p = this.pass;
    const { nEmbd } = this.hp;
    p.begin(cache, rows);
    rows.forEach((r, i) => this.embedding.row(r.token, p.buf.x.array.subarray(i * nEmbd, (i + 1) * nEmbd)));
    this.layers.forEach((layer, il) => this.arch.forwardLayer(p, layer, il, this.scratch));
    return outputLogits(p, this.head);
  }
}
