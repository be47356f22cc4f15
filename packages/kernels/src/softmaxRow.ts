// A softmax over one row exactly as ggml_soft_max_f32 computes it with no mask and scale 1 (ggml-cpu ops.cpp,
// ggml_vec_soft_max_f32 in vec.cpp, AVX-512): e^(x − max) by ggml's vector exp for each whole group of 16, by
// libm's expf for the rest, the sum in double, then every value times float(1 / sum). For rows that are not
// attention's (whose KV length llama.cpp pads, so the kernels' softmax pads too): a MoE router's scores.
import { expF32, expGgmlLane } from "./expF32.js";

const fround = Math.fround;

/** Replaces x with softmax(x), in place. */
export function softmaxRow(x: Float32Array): void {
  let max = -Infinity;
  for (const v of x) max = Math.max(max, v);
  const whole = x.length & ~15;
  let sum = 0;
  for (let i = 0; i < whole; i += 16) {
    for (let l = 0; l < 16; l++) x[i + l] = expGgmlLane(fround(x[i + l] - max));
    sum += reduceAdd16(x, i);
  }
  for (let i = whole; i < x.length; i++) {
    x[i] = expF32(fround(x[i] - max));
    sum += x[i];
  }
  const inv = fround(1 / sum);
  for (let i = 0; i < x.length; i++) x[i] = fround(x[i] * inv);
}

/** _mm512_reduce_add_ps over x[at .. at + 16) as GCC expands it: (i + 8), then (i + 4), then (0 + 2) + (1 + 3). */
function reduceAdd16(x: Float32Array, at: number): number {
  const t = (i: number) => fround(x[at + i] + x[at + i + 8]);
  const u = (i: number) => fround(t(i) + t(i + 4));
  return fround(fround(u(0) + u(2)) + fround(u(1) + u(3)));
}
