// Llama (Llama 2 and 3, TinyLlama, DeepSeek-R1-Distill-Llama): the forward pass of a batch of rows, each a
// token of some sequence at its own position, reading top to bottom like llama2.c's run.c. Matrices live in
// the worker pool's arenas, sharded by rows, and every product takes all rows at once; the small per-row work
// (norms, RoPE, residuals) runs on the main thread's kernels; attention runs where the KV cache lives, each
// thread on its own KV heads (KvCache). GGUF keys and tensor names are spelled as in GGUF (llama.cpp
// src/models/llama.cpp, gguf-py constants).
import {
  KvCache, MatMul, readFileInto, ropeCache, toFloatOf, type GgmlTypeTraits, type KernelExports, type KvCacheLayout,
  type RopeParams, type ShardedMatrix, type WorkerPool,
} from "@cpu-llm/kernels";
import { metaNumber, metaString } from "../gguf/metadata.js";
import type { GgufFile, GgufTensorInfo } from "../gguf/readGguf.js";

export const LLAMA_TENSORS = {
  tokenEmbd: "token_embd.weight",
  outputNorm: "output_norm.weight",
  output: "output.weight",
  ropeFreqs: "rope_freqs.weight",
  attnNorm: "blk.%d.attn_norm.weight",
  attnQ: "blk.%d.attn_q.weight",
  attnK: "blk.%d.attn_k.weight",
  attnV: "blk.%d.attn_v.weight",
  attnOutput: "blk.%d.attn_output.weight",
  ffnNorm: "blk.%d.ffn_norm.weight",
  ffnGate: "blk.%d.ffn_gate.weight",
  ffnUp: "blk.%d.ffn_up.weight",
  ffnDown: "blk.%d.ffn_down.weight",
} as const;

export interface LlamaHparams {
  readonly nEmbd: number;
  readonly nLayer: number;
  readonly nHead: number;
  readonly nKvHead: number;
  readonly headDim: number;
  readonly nFf: number;
  readonly nVocab: number;
  readonly nCtxTrain: number;
  readonly eps: number;
  readonly rope: RopeParams;
}

/** `{arch}.*` hyper-parameters, with llama.cpp's defaults where a key is optional. */
export function llamaHparams(file: GgufFile): LlamaHparams {
  const arch = metaString(file, "general.architecture") ?? "llama";
  const need = (key: string) => {
    const v = metaNumber(file, `${arch}.${key}`);
    if (v === undefined) throw new Error(`${file.path ?? "GGUF"}: ${arch}.${key} is missing`);
    return v;
  };
  const opt = (key: string) => metaNumber(file, `${arch}.${key}`);
  const nEmbd = need("embedding_length");
  const nHead = need("attention.head_count");
  const headDim = opt("attention.key_length") ?? nEmbd / nHead;
  const embd = file.tensors.find((t) => t.name === LLAMA_TENSORS.tokenEmbd);
  const scaling = metaString(file, `${arch}.rope.scaling.type`);
  const factor = opt("rope.scaling.factor");
  return {
    nEmbd,
    nLayer: need("block_count"),
    nHead,
    nKvHead: opt("attention.head_count_kv") ?? nHead,
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
  };
}

interface Layer {
  readonly attnNorm: number; // (nEmbd) f32, main arena
  readonly ffnNorm: number;
  readonly wq: ShardedMatrix;
  readonly wk: ShardedMatrix;
  readonly wv: ShardedMatrix;
  readonly wo: ShardedMatrix;
  readonly gate: ShardedMatrix;
  readonly up: ShardedMatrix;
  readonly down: ShardedMatrix;
}

export interface LlamaOptions {
  /** Most rows one forward pass takes (llama.cpp's n_ubatch): prompt chunks and decoding sequences together. Default 32. */
  readonly maxBatch?: number;
  /** Called as the weights are read, with the fraction of weight bytes read so far. */
  readonly onProgress?: (fraction: number) => void;
}

/** One row of a forward pass: a token of a sequence at its position; `logits` asks for the row's logits. */
export interface BatchRow {
  readonly token: number;
  readonly sequence: number;
  readonly position: number;
  readonly logits: boolean;
}

/** Views of the main thread's buffers, in its first arena (offsets for the kernels, arrays for JS). */
class Buffer {
  readonly array: Float32Array;
  constructor(
    memory: WebAssembly.Memory,
    readonly at: number,
    n: number,
  ) {
    this.array = new Float32Array(memory.buffer, at, n);
  }
}

export class Llama {
  private constructor(
    readonly hp: LlamaHparams,
    private readonly k: KernelExports,
    private readonly mm: MatMul,
    private readonly file: GgufFile & { path: string },
    private readonly tokenEmbd: GgufTensorInfo,
    private readonly layers: readonly Layer[],
    private readonly outputNorm: number,
    private readonly output: ShardedMatrix,
    private readonly buf: Record<"x" | "xb" | "xb2" | "q" | "kv" | "v" | "att" | "hb" | "hb2" | "logits" | "rope", Buffer>,
    /** Most rows one forward pass takes. */
    readonly maxBatch: number,
  ) {}

  /** Places the weights in the pool's arenas (each thread reads its own rows). */
  static load(file: GgufFile, pool: WorkerPool, options: LlamaOptions): Llama {
    if (!file.path) throw new Error("Llama.load needs a GgufFile read from a path");
    let hp = llamaHparams(file);
    // Llama 3.1-style long-context scaling: per-pair RoPE frequency divisors stored as a tensor.
    const ropeFreqs = file.tensors.find((t) => t.name === LLAMA_TENSORS.ropeFreqs);
    if (ropeFreqs) {
      const factors = new Float32Array(ropeFreqs.nElements);
      const raw = new Uint8Array(ropeFreqs.nBytes);
      readFileInto(file.path, raw, ropeFreqs.fileOffset);
      toFloatOf(ropeFreqs.type, ropeFreqs.name)(factors, 0, raw, 0, factors.length);
      hp = { ...hp, rope: { ...hp.rope, freqFactors: factors } };
    }
    const { nEmbd, nLayer, nHead, nKvHead, headDim, nFf, nVocab } = hp;
    const kvDim = nKvHead * headDim;
    const tensor = (name: string) => {
      const t = file.tensors.find((x) => x.name === name);
      if (!t) throw new Error(`${file.path}: tensor '${name}' is missing`);
      return t;
    };
    const blk = (pattern: string, l: number) => tensor(pattern.replace("%d", String(l)));
    const maxBatch = options.maxBatch ?? 32;
    const mm = new MatMul(pool, { maxCols: Math.max(nEmbd, nFf, nHead * headDim), maxRows: Math.max(nVocab, nFf, nEmbd, nHead * headDim), maxBatch });
    const matrixOf = (t: GgufTensorInfo) => ({ type: t.type, rows: t.dims[1] ?? 1, cols: t.dims[0] });
    const outputTensor = file.tensors.find((t) => t.name === LLAMA_TENSORS.output) ?? tensor(LLAMA_TENSORS.tokenEmbd);
    const matrices = [...Array.from({ length: nLayer }, (_, l) => [LLAMA_TENSORS.attnQ, LLAMA_TENSORS.attnK, LLAMA_TENSORS.attnV, LLAMA_TENSORS.attnOutput,
      LLAMA_TENSORS.ffnGate, LLAMA_TENSORS.ffnUp, LLAMA_TENSORS.ffnDown].map((p) => blk(p, l))).flat(), outputTensor];
    mm.reserve(matrices.map(matrixOf));
    const reads: { m: ShardedMatrix; position: number }[] = [];
    const load = (t: GgufTensorInfo) => {
      const m = mm.alloc(t.type, t.dims[1] ?? 1, t.dims[0]);
      reads.push({ m, position: t.fileOffset });
      return m;
    };

    const main = pool.arenasOf(0)[0];
    const vector = (n: number) => new Buffer(main.memory, main.alloc(n * 4), n);
    const floats = (t: GgufTensorInfo) => {
      const b = vector(t.nElements);
      const raw = new Uint8Array(t.nBytes);
      readFileInto(file.path!, raw, t.fileOffset);
      toFloatOf(t.type, t.name)(b.array, 0, raw, 0, t.nElements);
      return b.at;
    };
    const layers: Layer[] = Array.from({ length: nLayer }, (_, l) => ({
      attnNorm: floats(blk(LLAMA_TENSORS.attnNorm, l)),
      ffnNorm: floats(blk(LLAMA_TENSORS.ffnNorm, l)),
      wq: load(blk(LLAMA_TENSORS.attnQ, l)),
      wk: load(blk(LLAMA_TENSORS.attnK, l)),
      wv: load(blk(LLAMA_TENSORS.attnV, l)),
      wo: load(blk(LLAMA_TENSORS.attnOutput, l)),
      gate: load(blk(LLAMA_TENSORS.ffnGate, l)),
      up: load(blk(LLAMA_TENSORS.ffnUp, l)),
      down: load(blk(LLAMA_TENSORS.ffnDown, l)),
    }));
    const n = maxBatch;
    const buf = {
      x: vector(n * nEmbd), xb: vector(n * nEmbd), xb2: vector(n * nEmbd), q: vector(n * nHead * headDim), kv: vector(n * kvDim),
      v: vector(n * kvDim), att: vector(n * nHead * headDim), hb: vector(n * nFf), hb2: vector(n * nFf), logits: vector(n * nVocab),
      rope: vector(n * hp.rope.nDims),
    };
    const output = load(outputTensor);
    mm.load(file.path, reads, options.onProgress);
    return new Llama(hp, pool.mainKernelsOf(0), mm, file as GgufFile & { path: string }, tensor(LLAMA_TENSORS.tokenEmbd), layers,
      floats(tensor(LLAMA_TENSORS.outputNorm)), output, buf, maxBatch);
  }

  /** A KV cache for this model's layers and heads on the same pool, with room for `maxBatch` rows a pass. */
  createCache(options: { readonly sequences: number; readonly contextSize: number; readonly keyType: GgmlTypeTraits; readonly valueType: GgmlTypeTraits }): KvCache {
    return new KvCache(this.mm.pool, { ...this.cacheShape(), ...options, maxRows: this.maxBatch });
  }

  /** What the KV cache of this model stores per token (memory plans multiply KvCache.bytesPerToken by it). */
  cacheShape(): Pick<KvCacheLayout, "nLayer" | "nHead" | "nKvHead" | "headDim"> {
    const { nLayer, nHead, nKvHead, headDim } = this.hp;
    return { nLayer, nHead, nKvHead, headDim };
  }

  /**
   * Runs a batch of rows through the model: every matrix product takes all rows at once (each weight block
   * loaded once for all of them), each row's key and value go to its own (sequence, position) cell, and each row
   * attends to its own sequence's cells up to its position. Returns the logits of the rows that ask for them,
   * in order (k × nVocab, row-major), valid until the next call.
   */
  forward(cache: KvCache, rows: readonly BatchRow[]): Float32Array {
    const { nEmbd, nHead, nKvHead, headDim, nFf, nVocab, eps } = this.hp;
    const { k, mm, buf } = this;
    const n = rows.length;
    const qDim = nHead * headDim;
    const kvDim = nKvHead * headDim;
    const nDims = this.hp.rope.nDims;
    if (n < 1 || n > this.maxBatch) throw new RangeError(`a batch holds 1 to ${this.maxBatch} rows, got ${n}`);
    const view = (b: Buffer, width: number) => b.array.subarray(0, n * width);
    rows.forEach((r, i) => {
      this.embed(r.token, buf.x.array.subarray(i * nEmbd, (i + 1) * nEmbd));
      ropeCache(buf.rope.array.subarray(i * nDims), r.position, this.hp.rope);
    });
    const norm = (out: Buffer, x: Buffer, weight: number) => {
      for (let i = 0; i < n; i++) k.rmsNorm(out.at + i * nEmbd * 4, x.at + i * nEmbd * 4, weight, nEmbd, eps);
    };
    this.layers.forEach((layer, l) => {
      // Attention: normalise, project, rotate, append to the cache and attend (causally, per sequence), project back, add.
      norm(buf.xb, buf.x, layer.attnNorm);
      mm.batch(layer.wq, view(buf.xb, nEmbd), n, view(buf.q, qDim)); // (n, nHead * headDim)
      mm.batch(layer.wk, view(buf.xb, nEmbd), n, view(buf.kv, kvDim)); // (n, nKvHead * headDim)
      mm.batch(layer.wv, view(buf.xb, nEmbd), n, view(buf.v, kvDim));
      for (let i = 0; i < n; i++) {
        const cs = buf.rope.at + i * nDims * 4;
        k.ropeNorm(buf.q.at + i * qDim * 4, nHead, headDim, nDims, cs);
        k.ropeNorm(buf.kv.at + i * kvDim * 4, nKvHead, headDim, nDims, cs);
      }
      cache.attend(l, rows, view(buf.q, qDim), view(buf.kv, kvDim), view(buf.v, kvDim), view(buf.att, qDim));
      mm.batch(layer.wo, view(buf.att, qDim), n, view(buf.xb2, nEmbd));
      k.add(buf.x.at, buf.x.at, buf.xb2.at, n * nEmbd);
      // Feed-forward: normalise, SwiGLU, project down, add.
      norm(buf.xb, buf.x, layer.ffnNorm);
      mm.batch(layer.gate, view(buf.xb, nEmbd), n, view(buf.hb, nFf)); // (n, nFf)
      mm.batch(layer.up, view(buf.xb, nEmbd), n, view(buf.hb2, nFf));
      for (let i = 0; i < n; i++) k.swiglu(buf.hb.at + i * nFf * 4, buf.hb.at + i * nFf * 4, buf.hb2.at + i * nFf * 4, nFf);
      mm.batch(layer.down, view(buf.hb, nFf), n, view(buf.xb2, nEmbd));
      k.add(buf.x.at, buf.x.at, buf.xb2.at, n * nEmbd);
    });
    // Only the rows that want logits go through the output matrix, gathered in order.
    let m = 0;
    rows.forEach((r, i) => {
      if (!r.logits) return;
      k.rmsNorm(buf.xb.at + m * nEmbd * 4, buf.x.at + i * nEmbd * 4, this.outputNorm, nEmbd, eps);
      m++;
    });
    if (m === 0) return buf.logits.array.subarray(0, 0);
    mm.batch(this.output, buf.xb.array.subarray(0, m * nEmbd), m, buf.logits.array.subarray(0, m * nVocab));
    return buf.logits.array.subarray(0, m * nVocab);
  }

  /** One row of the token embedding (any supported type), read from the file: no copy of the whole table. */
  private embed(token: number, out: Float32Array): void {
    const t = this.tokenEmbd;
    if (!Number.isInteger(token) || token < 0 || token >= (t.dims[1] ?? 0)) throw new RangeError(`token id ${token} is out of range`);
    const rowBytes = (t.dims[0] / t.type.blockSize) * t.type.typeSize;
    const raw = new Uint8Array(rowBytes);
    readFileInto(this.file.path, raw, t.fileOffset + token * rowBytes);
    toFloatOf(t.type, t.name)(out, 0, raw, 0, t.dims[0]);
  }
}

