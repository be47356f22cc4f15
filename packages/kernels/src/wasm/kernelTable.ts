// Every WebAssembly kernel the TypeScript side calls, declared once: its parameters (named for the reader; all
// are i32 offsets and counts or f32 values) and whether it returns a number. KernelName, KernelExports and the
// pool's op codes derive from this table; instantiateKernels refuses a module that lacks one of them, and
// kernelTable.test.ts checks every export's arity against it (assembly/index.ts is the other side).
import type { WasmGlobal } from "./wasmTypes.js";

const kernel = <const P extends readonly string[], R extends "void" | "number">(params: P, returns: R) => ({ params, returns });

/** out[r] = row r of W · x for rows [r0, r1); nb: blocks per row; xs: the activation's block scales, if its type has them. */
const MATVEC = kernel(["out", "w", "rowBytes", "x", "xs", "nb", "r0", "r1"], "void");
/** out[c·outStride + r] = row r of W · activation row c (xStride bytes apart), for rows [r0, r1), activation rows [0, n). */
const MATMUL = kernel(["out", "outStride", "w", "rowBytes", "x", "xStride", "xs", "nb", "r0", "r1", "n", "scratch"], "void");
/** n floats at src to an activation type at dst (block scales at scales, when the type has them). */
const CONVERT = kernel(["dst", "scales", "src", "n"], "void");
/** Rewrites `rows` plain rows at w into the type's kernel layout, in place (scratch: one group of rows). */
const REPACK = kernel(["w", "rowBytes", "rows", "scratch"], "void");
/** out (n floats) = Σ over nPos rows of p[i] · row i of V (rowBytes apart). */
const ACCUMULATE = kernel(["out", "p", "v", "rowBytes", "nPos", "n"], "void");
/** A dot product of nb blocks of weights at w with an activation at x (scales xs). */
const VEC_DOT = kernel(["w", "x", "xs", "nb"], "number");

export const KERNELS = {
  quantizeRowQ8_0: CONVERT,
  quantizeRowQ8_K: CONVERT,
  quantizeRowQ8_1: CONVERT,
  convertRowF16: CONVERT,
  copyRowF32: CONVERT,
  dequantizeRowQ8_0: kernel(["dst", "src", "n"], "void"),
  roundToF16: kernel(["dst", "src", "n"], "void"),

  matvecQ4_0x8: MATVEC,
  matmulQ4_0x8: MATMUL,
  repackQ4_0x8: REPACK,
  matvecQ4_0Unpacked: MATVEC,
  matmulQ4_0Unpacked: MATMUL,
  matvecQ8_0: MATVEC,
  matmulQ8_0: MATMUL,
  matvecF16: MATVEC,
  matmulF16: MATMUL,
  matvecF32: MATVEC,
  matmulF32: MATMUL,
  vecDotQ4_0Q8_0Unpacked: VEC_DOT,
  vecDotQ8_0Q8_0: VEC_DOT,
  matvecQ5_0: MATVEC,
  matmulQ5_0: MATMUL,
  vecDotQ5_0Q8_0: VEC_DOT,
  matvecQ4_1: MATVEC,
  matmulQ4_1: MATMUL,
  vecDotQ4_1Q8_1: VEC_DOT,
  matvecQ5_1: MATVEC,
  matmulQ5_1: MATMUL,
  vecDotQ5_1Q8_1: VEC_DOT,
  matvecQ2_K: MATVEC,
  matmulQ2_K: MATMUL,
  matvecQ2_Kx8: MATVEC,
  matmulQ2_Kx8: MATMUL,
  matvecQ3_K: MATVEC,
  matmulQ3_K: MATMUL,
  matvecQ4_K: MATVEC,
  matmulQ4_K: MATMUL,
  matvecQ4_Kx4: MATVEC,
  matmulQ4_Kx4: MATMUL,
  repackQ4_Kx4: REPACK,
  matvecQ5_K: MATVEC,
  matmulQ5_K: MATMUL,
  matvecQ6_K: MATVEC,
  matmulQ6_K: MATMUL,
  repackQ6_K: REPACK,
  vecDotQ2_KQ8_K: VEC_DOT,
  vecDotQ2_Kx8Q8_K: VEC_DOT,
  vecDotQ3_KQ8_K: VEC_DOT,
  vecDotQ4_KQ8_K: VEC_DOT,
  vecDotQ4_Kx8Q8_K: VEC_DOT,
  vecDotQ5_KQ8_K: VEC_DOT,
  vecDotQ6_KQ8_K: VEC_DOT,
  vecDotF32F32: kernel(["a", "b", "n"], "number"),
  vecDotF16F16: kernel(["a", "b", "n"], "number"),

  accumulateRowsF32: ACCUMULATE,
  accumulateRowsF32Tiled: ACCUMULATE,
  accumulateRowsF16: ACCUMULATE,
  accumulateRowsQ8_0: ACCUMULATE,
  /** scores (g rows of nPos) = the g query heads at q (F16) · each key row; acc: g partial sums of scratch. */
  scoresGroupF16: kernel(["scores", "q", "k", "rowBytes", "nPos", "n", "g", "acc"], "void"),
  accumulateGroupF16: kernel(["out", "p", "v", "rowBytes", "nPos", "n", "g"], "void"),

  streamRead: kernel(["src", "bytes"], "number"),
  rmsNorm: kernel(["out", "x", "weight", "n", "eps"], "void"),
  ropeNorm: kernel(["x", "nHeads", "headDim", "nDims", "cs"], "void"),
  ropeNeox: kernel(["x", "nHeads", "headDim", "nDims", "cs"], "void"),
  /** slope: ALiBi's per-head slope, 0 for none. */
  softmax: kernel(["x", "n", "scale", "slope"], "void"),
  swiglu: kernel(["out", "gate", "up", "n"], "void"),
  add: kernel(["out", "a", "b", "n"], "void"),
  scale: kernel(["out", "a", "s", "n"], "void"),
  argmax: kernel(["x", "n"], "number"),
} as const;

export type KernelName = keyof typeof KERNELS;
type Params<K extends KernelName> = (typeof KERNELS)[K]["params"];
/** The kernels whose parameters are exactly S's: one role (a matvec, a converter), callable through one signature. */
type KernelsLike<S extends { readonly params: readonly string[] }> =
  { [K in KernelName]: Params<K> extends S["params"] ? (S["params"] extends Params<K> ? K : never) : never }[KernelName];
export type MatvecKernel = KernelsLike<typeof MATVEC>;
export type MatmulKernel = KernelsLike<typeof MATMUL>;
export type ConvertKernel = KernelsLike<typeof CONVERT>;
export type RepackKernel = KernelsLike<typeof REPACK>;
export type AccumulateKernel = KernelsLike<typeof ACCUMULATE>;
export type ScoresGroupKernel = KernelsLike<typeof KERNELS.scoresGroupF16>;
export type AccumulateGroupKernel = KernelsLike<typeof KERNELS.accumulateGroupF16>;
/** Names in op-code order: a dispatch carries a kernel's index here. */
export const KERNEL_NAMES = Object.keys(KERNELS) as readonly KernelName[];

type KernelFunction<S> = S extends { readonly params: infer P extends readonly string[]; readonly returns: infer R }
  ? (...args: { [I in keyof P]: number }) => R extends "void" ? void : number
  : never;

/** The module's exports as the TypeScript side sees them. */
export type KernelExports = { readonly [K in KernelName]: KernelFunction<(typeof KERNELS)[K]> } & {
  /** Fills the memory's half → float table (assembly/f16.ts). */
  initF16Table(): void;
  /** Which integer dot the build has: 1 relaxed SIMD, 0 plain simd128. */
  readonly RELAXED: WasmGlobal;
};

/** Calls a kernel by name with arguments that come as data (a dispatch's, a file read's follow-up). */
export function callKernel(kernels: KernelExports, name: KernelName, args: Iterable<number>): number | void {
  return (kernels[name] as (...a: number[]) => number | void)(...args);
}

/** The table's kernels the instance lacks or declares with another parameter count (none for a good build). */
export function kernelMismatches(exports: Record<string, unknown>): string[] {
  const problems: string[] = [];
  for (const name of KERNEL_NAMES) {
    const fn = exports[name];
    if (typeof fn !== "function") problems.push(`${name} is missing`);
    else if (fn.length !== KERNELS[name].params.length) problems.push(`${name} takes ${fn.length} parameters, the table says ${KERNELS[name].params.length}`);
  }
  for (const name of ["initF16Table", "RELAXED"]) if (!(name in exports)) problems.push(`${name} is missing`);
  return problems;
}
