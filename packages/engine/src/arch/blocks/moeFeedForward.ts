// The mixture-of-experts feed-forward (llama.cpp build_moe_ffn, as DeepSeek V2/V3 call it): a router scores
// every expert per row (softmax or sigmoid); the best expertUsed are chosen, within the best groups when
// experts are grouped, by the scores plus an optional selection bias (exp_probs_b) that does not weigh them;
// each chosen expert is a SwiGLU over the rows that chose it, all of them in one product per matrix, so a
// token reads only its experts' weights; the outputs, weighted, are added in the order the experts were chosen,
// then the shared experts' SwiGLU, then the residual.
import { expF32, softmaxRow, type ShardedMatrix } from "@cpu-llm/kernels";
import type { MoeHparams } from "../hparams.js";
import type { Pass } from "../pass.js";
import { blockTensor, TENSOR } from "../tensorNames.js";
import type { Vector, Weights } from "../weights.js";
import { swiglu } from "./feedForward.js";
import { rmsNorm } from "./norm.js";
import { project } from "./projection.js";

const fround = Math.fround;

export interface MoeWeights {
  readonly ffn_norm: number; // (nEmbd) f32
  readonly ffn_gate_inp: ShardedMatrix; // (nExpert, nEmbd) the router
  readonly exp_probs_b?: Float32Array; // (nExpert) selection bias
  readonly experts: readonly { readonly gate: ShardedMatrix; readonly up: ShardedMatrix; readonly down: ShardedMatrix }[];
  readonly shared: { readonly gate: ShardedMatrix; readonly up: ShardedMatrix; readonly down: ShardedMatrix };
}

/** Buffers of the MoE block's own, for maxBatch rows. */
export interface MoeScratch {
  readonly logits: Vector; // (n, nExpert) router scores, then probabilities
  readonly rowsIn: Vector; // (n, nEmbd) the rows that chose one expert, gathered
  readonly rowsOut: Vector; // (n, nEmbd) that expert's output for them
  readonly chosen: Float32Array; // (n, nExpertUsed, nEmbd) each row's weighted expert outputs, in choice order
  /** Whole experts run side by side, one per thread: each thread's (n, nEmbd) input and output, (n, nFfExpert) hidden ×2. */
  readonly lanes: readonly { readonly x: Float32Array; readonly out: Float32Array; readonly gate: Float32Array; readonly up: Float32Array }[];
}

export function moeScratch(w: Weights, maxBatch: number, m: MoeHparams): MoeScratch {
  const { nEmbd } = w.hp;
  const lanes = w.expertPlacement === "whole" ? w.pool.threads : 0;
  return {
    logits: w.scratch(maxBatch * m.nExpert), rowsIn: w.scratch(maxBatch * nEmbd), rowsOut: w.scratch(maxBatch * nEmbd),
    chosen: new Float32Array(maxBatch * m.nExpertUsed * nEmbd),
    lanes: Array.from({ length: lanes }, () => ({
      x: new Float32Array(maxBatch * nEmbd), out: new Float32Array(maxBatch * nEmbd), gate: new Float32Array(maxBatch * m.nFfExpert), up: new Float32Array(maxBatch * m.nFfExpert),
    })),
  };
}

type Chooser = { readonly row: number; readonly slot: number; readonly weight: number };

/** Each expert once, over the rows that chose it, its rows split across all threads; done(rows, out) per expert. */
function expertsByRows(p: Pass, t: MoeWeights, s: MoeScratch, chooser: readonly Chooser[][], done: (rows: readonly Chooser[], out: Float32Array) => void): void {
  const { nEmbd } = p.hp;
  chooser.forEach((rows, e) => {
    if (rows.length === 0) return;
    rows.forEach((c, j) => s.rowsIn.array.set(p.buf.xb.array.subarray(c.row * nEmbd, (c.row + 1) * nEmbd), j * nEmbd));
    p.over(rows.length, () => swiglu(p, t.experts[e], s.rowsIn, s.rowsOut));
    done(rows, s.rowsOut.array);
  });
}

/** Whole experts, each on the thread that holds it: rounds of one expert per thread, gate, up and down each one dispatch. */
function expertsWhole(p: Pass, t: MoeWeights, s: MoeScratch, chooser: readonly Chooser[][], done: (rows: readonly Chooser[], out: Float32Array) => void): void {
  const { nEmbd } = p.hp;
  const ownerOf = (e: number) => t.experts[e].gate.shards.findIndex((sh) => sh.rows > 0);
  const queues = s.lanes.map((_, thread) => chooser.flatMap((rows, e) => (rows.length > 0 && ownerOf(e) === thread ? [e] : [])));
  while (queues.some((q) => q.length > 0)) {
    const round = queues.flatMap((q, lane) => (q.length > 0 ? [{ e: q.shift()!, lane: s.lanes[lane] }] : []));
    for (const { e, lane } of round) chooser[e].forEach((c, j) => lane.x.set(p.buf.xb.array.subarray(c.row * nEmbd, (c.row + 1) * nEmbd), j * nEmbd));
    const rowsOf = (e: number) => chooser[e].length;
    const width = t.experts[round[0].e].gate.rows;
    p.mm.batchEach(round.map(({ e, lane }) => ({ m: t.experts[e].gate, x: lane.x.subarray(0, rowsOf(e) * nEmbd), n: rowsOf(e), out: lane.gate.subarray(0, rowsOf(e) * width) })));
    p.mm.batchEach(round.map(({ e, lane }) => ({ m: t.experts[e].up, x: lane.x.subarray(0, rowsOf(e) * nEmbd), n: rowsOf(e), out: lane.up.subarray(0, rowsOf(e) * width) })));
    for (const { e, lane } of round) {
      // SwiGLU on the main thread's kernels, row by row, as swiglu() does.
      const h = p.buf.hb;
      for (let j = 0; j < rowsOf(e); j++) {
        h.array.set(lane.gate.subarray(j * width, (j + 1) * width));
        p.buf.hb2.array.set(lane.up.subarray(j * width, (j + 1) * width));
        p.k.swiglu(h.at, h.at, p.buf.hb2.at, width);
        lane.gate.set(h.array.subarray(0, width), j * width);
      }
    }
    p.mm.batchEach(round.map(({ e, lane }) => ({ m: t.experts[e].down, x: lane.gate.subarray(0, rowsOf(e) * width), n: rowsOf(e), out: lane.out.subarray(0, rowsOf(e) * nEmbd) })));
    for (const { e, lane } of round) done(chooser[e], lane.out);
  }
}

export function loadMoe(w: Weights, il: number, m: MoeHparams): MoeWeights {
  const { nEmbd } = w.hp;
  const name = (pattern: string) => blockTensor(pattern, il);
  const stacked = (pattern: string, rows: number, cols: number) => w.matrices(name(pattern), { rows, cols, slices: m.nExpert });
  const [gate, up, down] = [stacked(TENSOR.ffn_gate_exps, m.nFfExpert, nEmbd), stacked(TENSOR.ffn_up_exps, m.nFfExpert, nEmbd), stacked(TENSOR.ffn_down_exps, nEmbd, m.nFfExpert)];
  const sharedFf = m.nFfExpert * m.nExpertShared;
  return {
    ffn_norm: w.vector(name(TENSOR.ffn_norm), nEmbd),
    ffn_gate_inp: w.matrix(name(TENSOR.ffn_gate_inp), { rows: m.nExpert, cols: nEmbd }),
    exp_probs_b: w.has(name(TENSOR.exp_probs_b)) ? w.floats(name(TENSOR.exp_probs_b)) : undefined,
    experts: gate.map((g, e) => ({ gate: g, up: up[e], down: down[e] })),
    shared: {
      gate: w.matrix(name(TENSOR.ffn_gate_shexp), { rows: sharedFf, cols: nEmbd }),
      up: w.matrix(name(TENSOR.ffn_up_shexp), { rows: sharedFf, cols: nEmbd }),
      down: w.matrix(name(TENSOR.ffn_down_shexp), { rows: nEmbd, cols: sharedFf }),
    },
  };
}

/** Indices of the k largest of `values` (all finite or -Infinity), largest first; ties to the lower index. */
function topK(values: ArrayLike<number>, k: number): number[] {
  return Array.from({ length: values.length }, (_, i) => i).sort((a, b) => values[b] - values[a] || a - b).slice(0, k);
}

/**
 * A row's chosen experts and their weights: probabilities from the router's scores, chosen by probability plus
 * the selection bias within the best groups (a group scores the sum of its two best), weights normalised and
 * scaled as the model says.
 */
export function route(scores: Float32Array, m: MoeHparams, bias?: Float32Array): { experts: number[]; weights: number[] } {
  // ggml_vec_sigmoid_f32 calls libm's expf (expF32); softmax is done in place by the caller.
  const probs = m.gating === "sigmoid" ? scores.map((v) => fround(1 / fround(1 + expF32(-v)))) : scores;
  const selection = bias ? probs.map((v, e) => fround(v + bias[e])) : Float32Array.from(probs);
  if (m.groups > 1) {
    const perGroup = m.nExpert / m.groups;
    const groupScore = Array.from({ length: m.groups }, (_, g) => {
      const members = selection.subarray(g * perGroup, (g + 1) * perGroup);
      return topK(members, 2).reduce((sum, e) => fround(sum + members[e]), 0);
    });
    const kept = new Set(topK(groupScore, m.groupsUsed));
    for (let e = 0; e < m.nExpert; e++) if (!kept.has(Math.floor(e / perGroup))) selection[e] = -Infinity;
  }
  const experts = topK(selection, m.nExpertUsed);
  let weights = experts.map((e) => probs[e]);
  if (m.normalizeWeights) {
    const sum = Math.max(fround(weights.reduce((s, w) => s + w, 0)), 6.103515625e-5);
    weights = weights.map((w) => fround(w / sum));
  }
  if (m.weightsScale !== 0 && m.weightsScale !== 1) weights = weights.map((w) => fround(w * fround(m.weightsScale)));
  return { experts, weights };
}

/** x += MoE feed-forward of every row. */
export function moeFeedForward(p: Pass, t: MoeWeights, m: MoeHparams, s: MoeScratch): void {
  const { nEmbd } = p.hp;
  const { x, xb, xb2 } = p.buf;
  const n = p.n;
  rmsNorm(p, xb, x, t.ffn_norm);
  project(p, t.ffn_gate_inp, xb, s.logits); // (n, nExpert)
  const routes = Array.from({ length: n }, (_, i) => {
    if (m.gating === "softmax") softmaxRow(s.logits.array.subarray(i * m.nExpert, (i + 1) * m.nExpert));
    return route(s.logits.array.subarray(i * m.nExpert, (i + 1) * m.nExpert), m, t.exp_probs_b);
  });
  // Each expert once, over the rows that chose it; its weighted output to the row's slot for that choice.
  const chooser: Chooser[][] = Array.from({ length: m.nExpert }, () => []);
  routes.forEach((r, row) => r.experts.forEach((e, slot) => chooser[e].push({ row, slot, weight: r.weights[slot] })));
  const whole = s.lanes.length > 0;
  (whole ? expertsWhole : expertsByRows)(p, t, s, chooser, (rows, outs) => {
    rows.forEach((c, j) => {
      const out = outs.subarray(j * nEmbd, (j + 1) * nEmbd);
      const dst = (c.row * m.nExpertUsed + c.slot) * nEmbd;
      for (let d = 0; d < nEmbd; d++) s.chosen[dst + d] = fround(out[d] * c.weight);
    });
  });
  // ggml adds the weighted experts in choice order, then the shared experts' output, then the residual.
  swiglu(p, t.shared, xb, xb2); // (n, nEmbd)
  for (let i = 0; i < n; i++) {
    const sum = s.rowsOut.array.subarray(i * nEmbd, (i + 1) * nEmbd); // reused as the row's sum
    sum.set(s.chosen.subarray(i * m.nExpertUsed * nEmbd, (i * m.nExpertUsed + 1) * nEmbd));
    for (let slot = 1; slot < m.nExpertUsed; slot++) {
      const e = s.chosen.subarray((i * m.nExpertUsed + slot) * nEmbd, (i * m.nExpertUsed + slot + 1) * nEmbd);
      for (let d = 0; d < nEmbd; d++) sum[d] = fround(sum[d] + e[d]);
    }
  }
  p.add(s.rowsOut, xb2, nEmbd);
  p.add(x, s.rowsOut, nEmbd);
}
