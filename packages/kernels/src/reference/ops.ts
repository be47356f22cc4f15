// Plain TypeScript references of the layer operations (assembly/ops.ts), in float32 like ggml.
import { rotatePairRef } from "./ggmlOrder.js";

const fround = Math.fround;

export function rmsNormRef(x: Float32Array, weight: Float32Array, eps: number): Float32Array {
  let sum = 0;
  for (const v of x) sum += fround(v * v);
  const scale = fround(1 / fround(Math.sqrt(fround(fround(sum / x.length) + eps))));
  return x.map((v, i) => fround(fround(v * scale) * weight[i]));
}

export type RopeMode = "norm" | "neox";

export function ropeRef(x: Float32Array, nHeads: number, headDim: number, nDims: number, cs: Float32Array, mode: RopeMode): Float32Array {
  const y = x.slice();
  const half = nDims / 2;
  for (let h = 0; h < nHeads; h++) {
    for (let i = 0; i < half; i++) {
      const [a, b] = mode === "norm" ? [h * headDim + 2 * i, h * headDim + 2 * i + 1] : [h * headDim + i, h * headDim + i + half];
      const c = cs[2 * i];
      const s = cs[2 * i + 1];
      [y[a], y[b]] = rotatePairRef(x[a], x[b], c, s);
    }
  }
  return y;
}

export function softmaxRef(x: Float32Array, scale: number): Float32Array {
  const scaled = x.map((v) => fround(v * scale));
  const max = Math.max(...scaled);
  const e = scaled.map((v) => fround(Math.exp(fround(v - max))));
  const inv = fround(1 / e.reduce((a, b) => a + b, 0));
  return e.map((v) => fround(v * inv));
}

export function swigluRef(gate: Float32Array, up: Float32Array): Float32Array {
  return gate.map((g, i) => fround(fround(g / fround(1 + fround(Math.exp(-g)))) * up[i]));
}

/** Attention of one query over nPos keys/values, all float: softmax(q·k · scale) · V. */
export function attentionRef(q: Float32Array, keys: Float32Array[], values: Float32Array[], scale: number): Float32Array {
  const scores = Float32Array.from(keys, (k) => k.reduce((s, v, j) => s + v * q[j], 0));
  const p = softmaxRef(scores, scale);
  const out = new Float32Array(values[0].length);
  values.forEach((v, t) => v.forEach((x, j) => (out[j] += p[t] * x)));
  return out;
}
