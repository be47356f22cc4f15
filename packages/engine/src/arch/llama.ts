// Llama (Llama 2 and 3, TinyLlama, DeepSeek-R1-Distill-Llama): the forward pass of one sequence, one token at a
// time, reading top to bottom like llama2.c's run.c. Matrices live in the worker pool's arenas, sharded by
// rows; the small per-token work (norms, RoPE, residuals) runs on the main thread's kernels, and attention
// over the KV cache (in the main thread's arena) is split by KV heads across the threads when it is long.
// GGUF keys and tensor names are spelled as in GGUF (llama.cpp src/models/llama.cpp, gguf-py constants).
import {
  ACTIVATION_TYPES, attentionJob, ggmlType, MatMul, readFileInto, ropeCache, runAttentionJob, splitRows, toFloatOf,
  type AttentionScratch, type GgmlTypeTraits, type KernelExports, type KvTensor, type RopeParams, type ShardedMatrix,
  type SharedArena, type WorkerPool,
} from "@cpu-llm/kernels";
import { metaNumber, metaString } from "../gguf/metadata.js";
import type { GgufFile, GgufTensorInfo } from "../gguf/readGguf.js";

/** Positions attended in one layer (summed over a batch) from which attention is split across threads. */
const ATTENTION_SPLIT = 256;

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
  readonly keys: KvTensor; // (nCtx, nKvHead, headDim) in the KV type
  readonly values: KvTensor;
}

export interface LlamaOptions {
  readonly contextSize: number;
  /** Tokens per prompt-processing step (llama.cpp's n_ubatch). Default 32. */
  readonly maxBatch?: number;
  /** KV cache element type: f32, f16 or q8_0. */
  readonly kvType: GgmlTypeTraits;
  /** Called after each weight matrix is read, with the fraction of weight bytes read so far. */
  readonly onProgress?: (fraction: number) => void;
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
    private readonly kvType: GgmlTypeTraits,
    private readonly buf: Record<"x" | "xb" | "xb2" | "q" | "kv" | "v" | "att" | "hb" | "hb2" | "logits" | "rope" | "kvScales", Buffer>,
    /** One attention scratch per thread. */
    private readonly scratch: readonly AttentionScratch[],
    /** The main arena as the workers see it, when there are workers. */
    private readonly shared: SharedArena | undefined,
    readonly contextSize: number,
    /** Most tokens one forwardBatch call takes (prompt processing runs in chunks of this many). */
    readonly maxBatch: number,
  ) {}

  /** Places the weights in the pool's arenas (each thread reads its own rows) and plans the KV cache. */
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
    if (options.kvType.blockSize > 1 && headDim % options.kvType.blockSize !== 0) {
      throw new Error(`KV cache type ${options.kvType.name} needs a head size that is a multiple of ${options.kvType.blockSize} (this model: ${headDim})`);
    }
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
    const kvRowBytes = (kvDim / options.kvType.blockSize) * options.kvType.typeSize;
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
      keys: { type: options.kvType, offset: main.alloc(options.contextSize * kvRowBytes), rowBytes: kvRowBytes, headBytes: kvRowBytes / nKvHead },
      values: { type: options.kvType, offset: main.alloc(options.contextSize * kvRowBytes), rowBytes: kvRowBytes, headBytes: kvRowBytes / nKvHead },
    }));
    const n = maxBatch;
    const buf = {
      x: vector(n * nEmbd), xb: vector(n * nEmbd), xb2: vector(n * nEmbd), q: vector(n * nHead * headDim), kv: vector(n * kvDim),
      v: vector(n * kvDim), att: vector(n * nHead * headDim), hb: vector(n * nFf), hb2: vector(n * nFf), logits: vector(n * nVocab),
      rope: vector(n * hp.rope.nDims), kvScales: vector(kvDim / 16 + 16),
    };
    const scratch = Array.from({ length: pool.threads }, () => ({
      query: main.alloc(nHead * headDim * 4), queryScales: main.alloc(nHead * headDim), scores: main.alloc(nHead * options.contextSize * 4), partial: main.alloc(nHead * 16),
    }));
    const shared = pool.threads > 1 ? pool.shareArena(main) : undefined;
    const output = load(outputTensor);
    mm.load(file.path, reads, options.onProgress);
    return new Llama(hp, pool.mainKernelsOf(0), mm, file as GgufFile & { path: string }, tensor(LLAMA_TENSORS.tokenEmbd), layers,
      floats(tensor(LLAMA_TENSORS.outputNorm)), output, options.kvType, buf, scratch, shared, options.contextSize, maxBatch);
  }

  /** Runs one token at position pos (0-based); returns its logits (valid until the next call). */
  forward(token: number, pos: number): Float32Array {
    return this.forwardBatch([token], pos, false);
  }

  /**
   * Runs up to `maxBatch` tokens at positions pos0, pos0 + 1, …: every matrix product takes all rows at once
   * (each weight block loaded once for many tokens), attention is causal. Returns the logits of the last token,
   * or of every token (n × nVocab, row-major) when `allLogits`; valid until the next call.
   */
  forwardBatch(tokens: readonly number[], pos0: number, allLogits: boolean): Float32Array {
    const { nEmbd, nHead, nKvHead, headDim, nFf, nVocab, eps } = this.hp;
    const { k, mm, buf } = this;
    const n = tokens.length;
    const qDim = nHead * headDim;
    const kvDim = nKvHead * headDim;
    if (n < 1 || n > this.maxBatch) throw new RangeError(`a batch holds 1 to ${this.maxBatch} tokens, got ${n}`);
    if (pos0 + n > this.contextSize) throw new RangeError(`positions up to ${pos0 + n - 1} are past the context of ${this.contextSize}`);
    const rows = (b: Buffer, width: number) => b.array.subarray(0, n * width);
    tokens.forEach((t, i) => this.embed(t, buf.x.array.subarray(i * nEmbd, (i + 1) * nEmbd)));
    for (let i = 0; i < n; i++) ropeCache(buf.rope.array.subarray(i * this.hp.rope.nDims), pos0 + i, this.hp.rope);
    const convertKv = (k as unknown as Record<string, (...a: number[]) => void>)[ACTIVATION_TYPES[this.kvType.name].convert];
    const norm = (out: Buffer, x: Buffer, weight: number) => {
      for (let i = 0; i < n; i++) k.rmsNorm(out.at + i * nEmbd * 4, x.at + i * nEmbd * 4, weight, nEmbd, eps);
    };
    for (const layer of this.layers) {
      // Attention: normalise, project, rotate, append to the cache, attend (causally), project back, add.
      norm(buf.xb, buf.x, layer.attnNorm);
      mm.batch(layer.wq, rows(buf.xb, nEmbd), n, rows(buf.q, qDim));
      mm.batch(layer.wk, rows(buf.xb, nEmbd), n, rows(buf.kv, kvDim));
      mm.batch(layer.wv, rows(buf.xb, nEmbd), n, rows(buf.v, kvDim));
      for (let i = 0; i < n; i++) {
        const pos = pos0 + i;
        const cs = buf.rope.at + i * this.hp.rope.nDims * 4;
        k.ropeNorm(buf.q.at + i * qDim * 4, nHead, headDim, this.hp.rope.nDims, cs);
        k.ropeNorm(buf.kv.at + i * kvDim * 4, nKvHead, headDim, this.hp.rope.nDims, cs);
        convertKv(layer.keys.offset + pos * layer.keys.rowBytes, buf.kvScales.at, buf.kv.at + i * kvDim * 4, kvDim);
        convertKv(layer.values.offset + pos * layer.values.rowBytes, buf.kvScales.at, buf.v.at + i * kvDim * 4, kvDim);
      }
      this.attend(layer, n, pos0);
      mm.batch(layer.wo, rows(buf.att, qDim), n, rows(buf.xb2, nEmbd));
      k.add(buf.x.at, buf.x.at, buf.xb2.at, n * nEmbd);
      // Feed-forward: normalise, SwiGLU, project down, add.
      norm(buf.xb, buf.x, layer.ffnNorm);
      mm.batch(layer.gate, rows(buf.xb, nEmbd), n, rows(buf.hb, nFf));
      mm.batch(layer.up, rows(buf.xb, nEmbd), n, rows(buf.hb2, nFf));
      for (let i = 0; i < n; i++) k.swiglu(buf.hb.at + i * nFf * 4, buf.hb.at + i * nFf * 4, buf.hb2.at + i * nFf * 4, nFf);
      mm.batch(layer.down, rows(buf.hb, nFf), n, rows(buf.xb2, nEmbd));
      k.add(buf.x.at, buf.x.at, buf.xb2.at, n * nEmbd);
    }
    norm(buf.xb, buf.x, this.outputNorm);
    if (allLogits) {
      mm.batch(this.output, rows(buf.xb, nEmbd), n, rows(buf.logits, nVocab));
      return rows(buf.logits, nVocab);
    }
    const last = buf.xb.array.subarray((n - 1) * nEmbd, n * nEmbd);
    mm.vec(this.output, last, buf.logits.array.subarray(0, nVocab));
    return buf.logits.array.subarray(0, nVocab);
  }

  /**
   * Causal attention of the batch's n tokens over the cache, q in buf.q, out to buf.att. Split by KV heads
   * across the threads once the positions attended add up to ATTENTION_SPLIT. Posting a job costs a message
   * per worker; the threshold keeps short decodes local. It is a guess: on a 1B model, decode steps at 256-512
   * positions timed the same either way within this host's noise, and 512-token prefill gained 33 → 39 t/s.
   */
  private attend(layer: Layer, n: number, pos0: number): void {
    const { nHead, nKvHead, headDim } = this.hp;
    const shape = { nHead, nKvHead, headDim, scale: 1 / Math.sqrt(headDim) };
    const split = this.shared && n * (pos0 + (n + 1) / 2) >= ATTENTION_SPLIT;
    const jobs = splitRows(nKvHead, split ? this.scratch.length : 1).map(([g0, g1], t) =>
      g1 > g0 ? attentionJob(this.buf.att.at, this.buf.q.at, nHead * headDim * 4, pos0, n, shape, layer.keys, layer.values, this.scratch[t], g0, g1) : null);
    if (split) this.mm.pool.attend(this.shared!, jobs);
    else runAttentionJob(this.k, jobs[0]!);
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


export const kvTypeByName = (name: string): GgmlTypeTraits => {
  const t = ["f32", "f16", "q8_0"].includes(name) ? ggmlType({ f32: 0, f16: 1, q8_0: 8 }[name as "f32"])! : undefined;
  if (!t) throw new Error(`KV cache type must be f32, f16 or q8_0, got '${name}'`);
  return t;
};
