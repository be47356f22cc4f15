// Llama (Llama 2 and 3, TinyLlama, DeepSeek-R1-Distill-Llama): the forward pass of one sequence, one token at a
// time, reading top to bottom like llama2.c's run.c. Matrices live in the worker pool's arenas, sharded by
// rows; the small per-token work (norms, RoPE, attention, residuals) runs on the main thread's kernels.
// GGUF keys and tensor names are spelled as in GGUF (llama.cpp src/models/llama.cpp, gguf-py constants).
import * as fs from "node:fs";
import {
  ACTIVATION_TYPES, attend, ggmlType, MatMul, ropeCache, toFloatOf,
  type GgmlTypeTraits, type KernelExports, type KvTensor, type RopeParams, type ShardedMatrix, type WorkerPool,
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
  readonly keys: KvTensor; // (nCtx, nKvHead, headDim) in the KV type
  readonly values: KvTensor;
}

export interface LlamaOptions {
  readonly contextSize: number;
  /** KV cache element type: f32, f16 or q8_0. */
  readonly kvType: GgmlTypeTraits;
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
    private readonly scratch: { query: number; queryScales: number; scores: number; partial: number },
    readonly contextSize: number,
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
      readAt(file.path, raw, ropeFreqs.fileOffset);
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
    const mm = new MatMul(pool, { maxCols: Math.max(nEmbd, nFf, nHead * headDim), maxRows: Math.max(nVocab, nFf, nEmbd, nHead * headDim) });
    const matrixOf = (t: GgufTensorInfo) => ({ type: t.type, rows: t.dims[1] ?? 1, cols: t.dims[0] });
    const outputTensor = file.tensors.find((t) => t.name === LLAMA_TENSORS.output) ?? tensor(LLAMA_TENSORS.tokenEmbd);
    const matrices = [...Array.from({ length: nLayer }, (_, l) => [LLAMA_TENSORS.attnQ, LLAMA_TENSORS.attnK, LLAMA_TENSORS.attnV, LLAMA_TENSORS.attnOutput,
      LLAMA_TENSORS.ffnGate, LLAMA_TENSORS.ffnUp, LLAMA_TENSORS.ffnDown].map((p) => blk(p, l))).flat(), outputTensor];
    mm.reserve(matrices.map(matrixOf));
    const load = (t: GgufTensorInfo) => {
      const m = mm.alloc(t.type, t.dims[1] ?? 1, t.dims[0]);
      mm.load(m, file.path!, t.fileOffset);
      return m;
    };

    const main = pool.arenasOf(0)[0];
    const kvRowBytes = (kvDim / options.kvType.blockSize) * options.kvType.typeSize;
    const vector = (n: number) => new Buffer(main.memory, main.alloc(n * 4), n);
    const floats = (t: GgufTensorInfo) => {
      const b = vector(t.nElements);
      const raw = new Uint8Array(t.nBytes);
      readAt(file.path!, raw, t.fileOffset);
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
    const buf = {
      x: vector(nEmbd), xb: vector(nEmbd), xb2: vector(nEmbd), q: vector(nHead * headDim), kv: vector(kvDim), v: vector(kvDim),
      att: vector(nHead * headDim), hb: vector(nFf), hb2: vector(nFf), logits: vector(nVocab), rope: vector(hp.rope.nDims),
      kvScales: vector(kvDim / 16 + 16),
    };
    const scratch = {
      query: main.alloc(nHead * headDim * 4), queryScales: main.alloc(nHead * headDim), scores: main.alloc(nHead * options.contextSize * 4), partial: main.alloc(nHead * 16),
    };
    return new Llama(hp, pool.mainKernelsOf(0), mm, file as GgufFile & { path: string }, tensor(LLAMA_TENSORS.tokenEmbd), layers,
      floats(tensor(LLAMA_TENSORS.outputNorm)), load(outputTensor), options.kvType, buf, scratch, options.contextSize);
  }

  /** Runs one token at position pos (0-based); returns the logits (valid until the next call). */
  forward(token: number, pos: number): Float32Array {
    const { nEmbd, nHead, nKvHead, headDim, nFf, eps } = this.hp;
    const { k, mm, buf } = this;
    if (pos >= this.contextSize) throw new RangeError(`position ${pos} is past the context of ${this.contextSize}`);
    this.embed(token, buf.x.array);
    ropeCache(buf.rope.array, pos, this.hp.rope);
    const convertKv = (k as unknown as Record<string, (...a: number[]) => void>)[ACTIVATION_TYPES[this.kvType.name].convert];
    for (const layer of this.layers) {
      // Attention: normalise, project, rotate, append to the cache, attend, project back, add.
      k.rmsNorm(buf.xb.at, buf.x.at, layer.attnNorm, nEmbd, eps);
      mm.vec(layer.wq, buf.xb.array, buf.q.array);
      mm.vec(layer.wk, buf.xb.array, buf.kv.array);
      mm.vec(layer.wv, buf.xb.array, buf.v.array);
      k.ropeNorm(buf.q.at, nHead, headDim, this.hp.rope.nDims, buf.rope.at);
      k.ropeNorm(buf.kv.at, nKvHead, headDim, this.hp.rope.nDims, buf.rope.at);
      convertKv(layer.keys.offset + pos * layer.keys.rowBytes, buf.kvScales.at, buf.kv.at, nKvHead * headDim);
      convertKv(layer.values.offset + pos * layer.values.rowBytes, buf.kvScales.at, buf.v.at, nKvHead * headDim);
      attend(k, buf.att.at, buf.q.at, { nHead, nKvHead, headDim, nPos: pos + 1, scale: 1 / Math.sqrt(headDim) }, layer.keys, layer.values, this.scratch);
      mm.vec(layer.wo, buf.att.array, buf.xb2.array);
      k.add(buf.x.at, buf.x.at, buf.xb2.at, nEmbd);
      // Feed-forward: normalise, SwiGLU, project down, add.
      k.rmsNorm(buf.xb.at, buf.x.at, layer.ffnNorm, nEmbd, eps);
      mm.vec(layer.gate, buf.xb.array, buf.hb.array);
      mm.vec(layer.up, buf.xb.array, buf.hb2.array);
      k.swiglu(buf.hb.at, buf.hb.at, buf.hb2.at, nFf);
      mm.vec(layer.down, buf.hb.array, buf.xb2.array);
      k.add(buf.x.at, buf.x.at, buf.xb2.at, nEmbd);
    }
    k.rmsNorm(buf.xb.at, buf.x.at, this.outputNorm, nEmbd, eps);
    mm.vec(this.output, buf.xb.array, buf.logits.array);
    return buf.logits.array;
  }

  /** One row of the token embedding (any supported type), read from the file: no copy of the whole table. */
  private embed(token: number, out: Float32Array): void {
    const t = this.tokenEmbd;
    if (!Number.isInteger(token) || token < 0 || token >= (t.dims[1] ?? 0)) throw new RangeError(`token id ${token} is out of range`);
    const rowBytes = (t.dims[0] / t.type.blockSize) * t.type.typeSize;
    const raw = new Uint8Array(rowBytes);
    readAt(this.file.path, raw, t.fileOffset + token * rowBytes);
    toFloatOf(t.type, t.name)(out, 0, raw, 0, t.dims[0]);
  }
}

function readAt(path: string, dst: Uint8Array, position: number): void {
  const fd = fs.openSync(path, "r");
  try {
    for (let done = 0; done < dst.length; ) {
      const n = fs.readSync(fd, dst, done, dst.length - done, position + done);
      if (n === 0) throw new Error(`${path}: unexpected end of file`);
      done += n;
    }
  } finally {
    fs.closeSync(fd);
  }
}

export const kvTypeByName = (name: string): GgmlTypeTraits => {
  const t = ["f32", "f16", "q8_0"].includes(name) ? ggmlType({ f32: 0, f16: 1, q8_0: 8 }[name as "f32"])! : undefined;
  if (!t) throw new Error(`KV cache type must be f32, f16 or q8_0, got '${name}'`);
  return t;
};
