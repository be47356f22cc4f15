// Multi-head latent attention (DeepSeek V2/V3; llama.cpp src/models/deepseek2.cpp, the MLA branch with the
// absorption optimisation). Every token is compressed to a latent of kvLoraRank values plus one RoPE key shared
// by all heads, and the cache holds just that: key = [latent, RoPE part], value = the latent (KvCache's
// valuesInKeys). Each head's no-RoPE query is multiplied by its slice of attn_k_b to live in latent space, so
// attention runs as one KV head shared by all query heads (MQA); each head's output, still a latent, goes
// through its slice of attn_v_b, then attn_output.
import type { ShardedMatrix } from "@cpu-llm/kernels";
import { ModelFormatError } from "../../errors.js";
import type { MlaHparams } from "../hparams.js";
import type { Pass } from "../pass.js";
import { blockTensor, TENSOR } from "../tensorNames.js";
import type { Vector, Weights } from "../weights.js";
import { rmsNorm } from "./norm.js";
import { product, project } from "./projection.js";

export interface LatentAttentionWeights {
  readonly attn_norm: number; // (nEmbd) f32
  /** Queries: attn_q (nHead * (nope + rope), nEmbd), or attn_q_a (qLoraRank, nEmbd), its norm, attn_q_b. */
  readonly attn_q?: ShardedMatrix;
  readonly attn_q_a?: ShardedMatrix;
  readonly attn_q_a_norm?: number; // (qLoraRank) f32
  readonly attn_q_b?: ShardedMatrix; // (nHead * (nope + rope), qLoraRank)
  readonly attn_kv_a_mqa: ShardedMatrix; // (kvLoraRank + rope, nEmbd)
  readonly attn_kv_a_norm: number; // (kvLoraRank) f32
  readonly attn_k_b: readonly ShardedMatrix[]; // per head: (kvLoraRank, nope)
  readonly attn_v_b: readonly ShardedMatrix[]; // per head: (valueDim, kvLoraRank)
  readonly attn_output: ShardedMatrix; // (nEmbd, nHead * valueDim)
}

/** Buffers of MLA's own, for maxBatch rows. */
export interface LatentAttentionScratch {
  readonly qFull: Vector; // (n, nHead * (nope + rope)) queries before absorption
  readonly qLow: Vector; // (n, qLoraRank)
  readonly kvA: Vector; // (n, kvLoraRank + rope) latent and RoPE key, as projected
  readonly headIn: Vector; // (n, max(nope, kvLoraRank)) one head's rows, gathered
  readonly headOut: Vector; // (n, max(kvLoraRank, valueDim))
  readonly values: Vector; // (n, nHead * valueDim) every head's value, before attn_output
}

export function latentAttentionScratch(w: Weights, maxBatch: number, m: MlaHparams): LatentAttentionScratch {
  const { nHead } = w.hp;
  const v = (width: number) => w.scratch(maxBatch * width);
  return {
    qFull: v(nHead * (m.nopeDim + m.ropeDim)), qLow: v(Math.max(1, m.qLoraRank)), kvA: v(m.kvLoraRank + m.ropeDim),
    headIn: v(Math.max(m.nopeDim, m.kvLoraRank)), headOut: v(Math.max(m.kvLoraRank, m.valueDim)), values: v(nHead * m.valueDim),
  };
}

/**
 * attn_k_b and attn_v_b per head, from a file converted before llama.cpp split attn_kv_b (kvLoraRank columns,
 * per head nope key rows then valueDim value rows): the value rows are read as they are; the key rows are
 * transposed at load, as llama.cpp's converter now does, and kept as F16.
 */
function splitKvB(w: Weights, name: string, m: MlaHparams): Pick<LatentAttentionWeights, "attn_k_b" | "attn_v_b"> {
  const { nHead } = w.hp;
  const { kvLoraRank: lora, nopeDim: nope, valueDim } = m;
  const t = w.tensor(name);
  if (t.dims[0] !== lora || t.dims[1] !== nHead * (nope + valueDim)) {
    throw new ModelFormatError(w.file.path, name, `has dims [${t.dims.join(", ")}], expected [${lora}, ${nHead * (nope + valueDim)}]`);
  }
  const all = w.floats(name); // (nHead * (nope + valueDim), lora)
  const heads = Array.from({ length: nHead }, (_, h) => h * (nope + valueDim));
  return {
    attn_k_b: heads.map((first) => {
      const k = new Float32Array(lora * nope); // (lora, nope): the key rows transposed
      for (let c = 0; c < nope; c++) for (let r = 0; r < lora; r++) k[r * nope + c] = all[(first + c) * lora + r];
      return w.matrixFrom(k, lora, nope);
    }),
    attn_v_b: heads.map((first) => w.matrixRows(name, first + nope, valueDim)),
  };
}

/** Layer il's tensors: attn_k_b and attn_v_b, or the older attn_kv_b split at load. */
export function loadLatentAttention(w: Weights, il: number, m: MlaHparams): LatentAttentionWeights {
  const { nEmbd, nHead } = w.hp;
  const name = (pattern: string) => blockTensor(pattern, il);
  const qDim = nHead * (m.nopeDim + m.ropeDim);
  const legacy = !w.has(name(TENSOR.attn_k_b)) && w.has(name(TENSOR.attn_kv_b));
  const queries = m.qLoraRank > 0
    ? {
      attn_q_a: w.matrix(name(TENSOR.attn_q_a), { rows: m.qLoraRank, cols: nEmbd }),
      attn_q_a_norm: w.vector(name(TENSOR.attn_q_a_norm), m.qLoraRank),
      attn_q_b: w.matrix(name(TENSOR.attn_q_b), { rows: qDim, cols: m.qLoraRank }),
    }
    : { attn_q: w.matrix(name(TENSOR.attn_q), { rows: qDim, cols: nEmbd }) };
  return {
    attn_norm: w.vector(name(TENSOR.attn_norm), nEmbd),
    ...queries,
    attn_kv_a_mqa: w.matrix(name(TENSOR.attn_kv_a_mqa), { rows: m.kvLoraRank + m.ropeDim, cols: nEmbd }),
    attn_kv_a_norm: w.vector(name(TENSOR.attn_kv_a_norm), m.kvLoraRank),
    ...(legacy ? splitKvB(w, name(TENSOR.attn_kv_b), m) : {
      attn_k_b: w.matrices(name(TENSOR.attn_k_b), { rows: m.kvLoraRank, cols: m.nopeDim, slices: nHead, broadcast: true }),
      attn_v_b: w.matrices(name(TENSOR.attn_v_b), { rows: m.valueDim, cols: m.kvLoraRank, slices: nHead, broadcast: true }),
    }),
    attn_output: w.matrix(name(TENSOR.attn_output), { rows: nEmbd, cols: nHead * m.valueDim }),
  };
}

/** x += MLA of layer il over every row (positions by RoPE in the NORM layout on the RoPE parts). */
export function latentAttention(p: Pass, t: LatentAttentionWeights, il: number, m: MlaHparams, s: LatentAttentionScratch): void {
  const { nHead, nEmbd } = p.hp;
  const { x, xb, xb2, q, k, att } = p.buf;
  const { kvLoraRank: lora, nopeDim: nope, ropeDim: rope, valueDim } = m;
  const headQ = nope + rope; // one head of qFull
  const headK = lora + rope; // one head of the absorbed query, and the key
  const nDims = p.hp.rope.nDims;
  rmsNorm(p, xb, x, t.attn_norm);
  if (t.attn_q) {
    project(p, t.attn_q, xb, s.qFull); // (n, nHead * (nope + rope))
  } else {
    project(p, t.attn_q_a!, xb, s.qLow); // (n, qLoraRank)
    rmsNorm(p, s.qLow, s.qLow, t.attn_q_a_norm!, m.qLoraRank);
    project(p, t.attn_q_b!, s.qLow, s.qFull);
  }
  project(p, t.attn_kv_a_mqa, xb, s.kvA); // (n, lora + rope)
  for (let i = 0; i < p.n; i++) {
    const cs = p.buf.rope.at + i * nDims * 4;
    // The RoPE part of every head (after its nope values), and of the one shared key (after the latent).
    p.k.ropeNorm(s.qFull.at + (i * nHead * headQ + nope) * 4, nHead, headQ, rope, cs);
    p.k.ropeNorm(s.kvA.at + (i * headK + lora) * 4, 1, rope, rope, cs);
    p.k.rmsNorm(s.kvA.at + i * headK * 4, s.kvA.at + i * headK * 4, t.attn_kv_a_norm, lora, p.hp.eps);
  }
  const [qFull, kvA, headIn, headOut] = [s.qFull.array, s.kvA.array, s.headIn.array, s.headOut.array];
  // Absorb attn_k_b: each head's no-RoPE query into latent space; the query is [absorbed, RoPE part].
  for (let h = 0; h < nHead; h++) {
    for (let i = 0; i < p.n; i++) headIn.set(qFull.subarray((i * nHead + h) * headQ, (i * nHead + h) * headQ + nope), i * nope);
    product(p, t.attn_k_b[h], headIn.subarray(0, p.n * nope), p.n, headOut.subarray(0, p.n * lora), (i) => p.rows[i].sequence);
    for (let i = 0; i < p.n; i++) {
      const at = (i * nHead + h) * headK;
      q.array.set(headOut.subarray(i * lora, (i + 1) * lora), at);
      q.array.set(qFull.subarray((i * nHead + h) * headQ + nope, (i * nHead + h + 1) * headQ), at + lora);
    }
  }
  for (let i = 0; i < p.n; i++) k.array.set(kvA.subarray(i * headK, (i + 1) * headK), i * headK);
  // One KV head for all query heads; the cache keeps [latent, RoPE key] and reads the latent as the value.
  const out = att.array.subarray(0, p.n * nHead * lora); // (n, nHead * lora)
  p.cache.attend(il, p.rows, p.view(q, nHead * headK), p.view(k, headK), k.array.subarray(0, 0), out);
  // Each head's latent output through its attn_v_b slice.
  for (let h = 0; h < nHead; h++) {
    for (let i = 0; i < p.n; i++) headIn.set(out.subarray((i * nHead + h) * lora, (i * nHead + h + 1) * lora), i * lora);
    product(p, t.attn_v_b[h], headIn.subarray(0, p.n * lora), p.n, headOut.subarray(0, p.n * valueDim), (i) => p.rows[i].sequence);
    for (let i = 0; i < p.n; i++) s.values.array.set(headOut.subarray(i * valueDim, (i + 1) * valueDim), (i * nHead + h) * valueDim);
  }
  project(p, t.attn_output, s.values, xb2); // (n, nEmbd)
  p.add(x, xb2, nEmbd);
}
