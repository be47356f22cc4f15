// The ggml type-traits table (after ggml.c's type_traits): one row per ggml_type id.
// Every type gets its block size and bytes per block, so a GGUF of any type can be sized and listed;
// only rows with toFloat can be computed with. Nothing else in the project branches on a type by hand.
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from "./f16.js";
import { UnsupportedTensorTypeError } from "./errors.js";
import {
  dequantizeRowQ4_0, dequantizeRowQ4_1, dequantizeRowQ5_0, dequantizeRowQ5_1, dequantizeRowQ8_0, quantizeRowQ4_0Ref, quantizeRowQ4_1Ref, quantizeRowQ5_0Ref,
  quantizeRowQ5_1Ref, quantizeRowQ8_0Ref,
} from "./reference/quantize.js";
import { quantizeRowQ2_KRef, quantizeRowQ3_KRef, quantizeRowQ4_KRef, quantizeRowQ5_KRef, quantizeRowQ6_KRef } from "./reference/kquantize.js";
import { dequantizeRowQ2_K, dequantizeRowQ3_K, dequantizeRowQ4_K, dequantizeRowQ5_K, dequantizeRowQ6_K, dequantizeRowQ8_K, quantizeRowQ8_KRef } from "./reference/kquants.js";
import type {
  AccumulateGroupKernel, AccumulateKernel, ConvertKernel, MatmulKernel, MatvecKernel, RepackKernel, ScoresGroupKernel,
} from "./wasm/kernelTable.js";

/** Converts n elements from raw bytes at src[srcOff] to floats at dst[dstOff]; n is a multiple of blockSize. */
export type ToFloat = (dst: Float32Array, dstOff: number, src: Uint8Array, srcOff: number, n: number) => void;
/** Converts n floats to raw bytes with ggml's reference rounding; n is a multiple of blockSize. */
export type FromFloat = (dst: Uint8Array, dstOff: number, src: ArrayLike<number>, srcOff: number, n: number) => void;

export interface GgmlTypeTraits {
  readonly id: number;
  /** As ggml spells it in type_traits (`q4_0`, `f16`, …). */
  readonly name: string;
  /** Elements per block. */
  readonly blockSize: number;
  /** Bytes per block. */
  readonly typeSize: number;
  /** Byte offsets in a block of its f16 scales (d, and dmin where the type has one): what random test data must keep finite. */
  readonly scaleHalves?: readonly number[];
  readonly toFloat?: ToFloat;
  readonly fromFloat?: FromFloat;
  /** The type activations are converted to before a dot product with this type (ggml's vec_dot_type). */
  readonly vecDotType?: string;
  /** How floats become this type when it is a vecDotType: see ActivationTraits. */
  readonly activation?: ActivationTraits;
  /** A KV cache can hold this type (llama.cpp's --cache-type-k/-v values that our attention kernels compute). */
  readonly kvCache?: true;
  /** The WebAssembly matrix-vector kernel for weights of this type (see assembly/index.ts). */
  readonly matvec?: MatvecKernel;
  /** The WebAssembly kernel for many activation rows at once (prefill), when there is one. */
  readonly matmul?: MatmulKernel;
  /** The matrices matmul is for, when not all: the others go row by row through matvec (as ggml's do). */
  readonly batchedWhen?: (rows: number, cols: number) => boolean;
  /**
   * ggml-cpu on x86 repacks a matrix of this type into interleaved rows when its row count is a multiple of
   * this, and then sums in another order than its plain vec_dot. matvec/matmul reproduce the repacked sums for
   * such a matrix; when they also want its layout, the `repack` kernel rewrites it at load, in groups of
   * repackRows rows (in place; scratch of repackRows · rowBytes, one row's for a type with a repack and no
   * repackRows, whose kernels always take the rewritten layout). `unpacked` kernels take the plain rows of the
   * other matrices and sum as vec_dot does (llama.cpp's logits differ in the last bits otherwise).
   */
  readonly repackRows?: number;
  readonly repack?: RepackKernel;
  readonly unpacked?: { readonly matvec: MatvecKernel; readonly matmul: MatmulKernel };
  /** The WebAssembly kernel summing probability-weighted rows of this type (attention's ·V). */
  readonly accumulateRows?: AccumulateKernel;
  /**
   * The same for a query whose sequence has other rows in the same batch, where llama.cpp's sum takes another
   * order (tinyBLAS for two or more query columns); accumulateRows serves both when absent.
   */
  readonly accumulateRowsTiled?: AccumulateKernel;
  /** Attention kernels that serve all query heads of a KV group in one pass over the cache, where it pays. */
  readonly scoresGroup?: ScoresGroupKernel;
  readonly accumulateGroup?: AccumulateGroupKernel;
}

/**
 * A type that activations are converted to before a product (a weight type's vecDotType): its WebAssembly
 * converter (dst, scales, src, n) writes rows of the type's blocks at dst and, beside them, `scaleBytes` per
 * block at scales (Q8_0: each block's d as f32 and Σq as i32, which the Q4_0 kernels read without reaching
 * into the blocks). Products read every stride from here.
 */
export interface ActivationTraits {
  readonly convert: ConvertKernel;
  readonly scaleBytes: number;
}

const f32ToFloat: ToFloat = (dst, dstOff, src, srcOff, n) => {
  const view = new DataView(src.buffer, src.byteOffset + srcOff, n * 4);
  for (let i = 0; i < n; i++) dst[dstOff + i] = view.getFloat32(i * 4, true);
};
const f32FromFloat: FromFloat = (dst, dstOff, src, srcOff, n) => {
  const view = new DataView(dst.buffer, dst.byteOffset + dstOff, n * 4);
  for (let i = 0; i < n; i++) view.setFloat32(i * 4, src[srcOff + i], true);
};
const halfToFloat = (decode: (bits: number) => number): ToFloat => (dst, dstOff, src, srcOff, n) => {
  for (let i = 0; i < n; i++) dst[dstOff + i] = decode(src[srcOff + 2 * i] | (src[srcOff + 2 * i + 1] << 8));
};
const halfFromFloat = (encode: (x: number) => number): FromFloat => (dst, dstOff, src, srcOff, n) => {
  for (let i = 0; i < n; i++) {
    const h = encode(src[srcOff + i]);
    dst[dstOff + 2 * i] = h & 0xff;
    dst[dstOff + 2 * i + 1] = h >> 8;
  }
};

type Computing = Omit<GgmlTypeTraits, "id" | "name" | "blockSize" | "typeSize">;

const row = <const N extends string, const C extends Computing = {}>(id: number, name: N, blockSize: number, typeSize: number, computing?: C) =>
  ({ id, name, blockSize, typeSize, ...computing }) as GgmlTypeTraits & { readonly name: N } & C;

/**
 * llama.cpp multiplies a batch (two or more rows) by an F32 or F16 matrix with llamafile's tinyBLAS, which
 * takes only a multiple of 4 rows and of 16 columns on AVX-512 (sgemm.cpp, tinyBLAS::matmul); other matrices
 * get ggml's vec_dot row by row, another summation order.
 */
const tinyBlasShape = (rows: number, cols: number) => rows % 4 === 0 && cols % 16 === 0;

/** Every type ggml defines, in id order; ids 4, 5 (Q4_2, Q4_3) are long gone. */
const TYPE_ROWS = [
  row(0, "f32", 1, 4, {
    toFloat: f32ToFloat, fromFloat: f32FromFloat, vecDotType: "f32", activation: { convert: "copyRowF32", scaleBytes: 0 }, kvCache: true,
    matvec: "matvecF32", matmul: "matmulF32", batchedWhen: tinyBlasShape, accumulateRows: "accumulateRowsF32", accumulateRowsTiled: "accumulateRowsF32Tiled",
  }),
  row(1, "f16", 1, 2, {
    toFloat: halfToFloat(f16ToF32), fromFloat: halfFromFloat(f32ToF16), vecDotType: "f16", activation: { convert: "convertRowF16", scaleBytes: 0 },
    kvCache: true, matvec: "matvecF16", matmul: "matmulF16", batchedWhen: tinyBlasShape, accumulateRows: "accumulateRowsF16", scoresGroup: "scoresGroupF16", accumulateGroup: "accumulateGroupF16",
  }),
  row(2, "q4_0", 32, 18, {
    scaleHalves: [0],
    toFloat: dequantizeRowQ4_0, fromFloat: quantizeRowQ4_0Ref, vecDotType: "q8_0", matvec: "matvecQ4_0x8", matmul: "matmulQ4_0x8",
    repackRows: 8, repack: "repackQ4_0x8", unpacked: { matvec: "matvecQ4_0Unpacked", matmul: "matmulQ4_0Unpacked" },
  }),
  // The older 32-weight types (assembly/q5_0.ts, q4_1.ts): ggml-cpu repacks none of them on x86, and sums
  // every product in vec_dot's eight lanes (tinyBLAS, which takes Q5_0 batches, adds alike).
  row(3, "q4_1", 32, 20, { scaleHalves: [0, 2], toFloat: dequantizeRowQ4_1, fromFloat: quantizeRowQ4_1Ref, vecDotType: "q8_1", matvec: "matvecQ4_1", matmul: "matmulQ4_1" }),
  row(6, "q5_0", 32, 22, { scaleHalves: [0], toFloat: dequantizeRowQ5_0, fromFloat: quantizeRowQ5_0Ref, vecDotType: "q8_0", matvec: "matvecQ5_0", matmul: "matmulQ5_0" }),
  row(7, "q5_1", 32, 24, { scaleHalves: [0, 2], toFloat: dequantizeRowQ5_1, fromFloat: quantizeRowQ5_1Ref, vecDotType: "q8_1", matvec: "matvecQ5_1", matmul: "matmulQ5_1" }),
  row(8, "q8_0", 32, 34, {
    scaleHalves: [0],
    toFloat: dequantizeRowQ8_0, fromFloat: quantizeRowQ8_0Ref, vecDotType: "q8_0", activation: { convert: "quantizeRowQ8_0", scaleBytes: 8 },
    kvCache: true, matvec: "matvecQ8_0", matmul: "matmulQ8_0", accumulateRows: "accumulateRowsQ8_0",
  }),
  // Q8_1 only as the activations of q4_1 and q5_1 (d, s = d·Σq, 32 int8): the converter writes d and s as f32 beside.
  row(9, "q8_1", 32, 36, { activation: { convert: "quantizeRowQ8_1", scaleBytes: 8 } }),
  // ggml-cpu repacks q2_K only on AVX-512 machines: the x8 order is the one llama.cpp's references show there.
  row(10, "q2_K", 256, 84, { scaleHalves: [80, 82], toFloat: dequantizeRowQ2_K, fromFloat: quantizeRowQ2_KRef, vecDotType: "q8_K", matvec: "matvecQ2_Kx8", matmul: "matmulQ2_Kx8", repackRows: 8, unpacked: { matvec: "matvecQ2_K", matmul: "matmulQ2_K" } }),
  row(11, "q3_K", 256, 110, { scaleHalves: [108], toFloat: dequantizeRowQ3_K, fromFloat: quantizeRowQ3_KRef, vecDotType: "q8_K", matvec: "matvecQ3_K", matmul: "matmulQ3_K" }),
  // K-quants (plain kernels in assembly/kquants.ts, fast ones in kquantsSimd.ts and q4_Kx4.ts): q4_K and q2_K
  // matrices of a multiple of 8 rows in the order of ggml-cpu's repacked gemv (q4_K's rewritten into groups of
  // four rows at load), the rest in its x86 vec_dot order.
  row(12, "q4_K", 256, 144, {
    scaleHalves: [0, 2], toFloat: dequantizeRowQ4_K, fromFloat: quantizeRowQ4_KRef, vecDotType: "q8_K", matvec: "matvecQ4_Kx4", matmul: "matmulQ4_Kx4", repackRows: 8, repack: "repackQ4_Kx4",
    unpacked: { matvec: "matvecQ4_K", matmul: "matmulQ4_K" },
  }),
  row(13, "q5_K", 256, 176, { scaleHalves: [0, 2], toFloat: dequantizeRowQ5_K, fromFloat: quantizeRowQ5_KRef, vecDotType: "q8_K", matvec: "matvecQ5_K", matmul: "matmulQ5_K" }),
  // q6_K's repack only cuts long rows into column chunks (assembly/columnChunks.ts); ggml-cpu sums it in vec_dot's order.
  row(14, "q6_K", 256, 210, { scaleHalves: [208], toFloat: dequantizeRowQ6_K, fromFloat: quantizeRowQ6_KRef, vecDotType: "q8_K", matvec: "matvecQ6_K", matmul: "matmulQ6_K", repack: "repackQ6_K" }),
  row(15, "q8_K", 256, 292, {
    toFloat: dequantizeRowQ8_K, fromFloat: quantizeRowQ8_KRef, activation: { convert: "quantizeRowQ8_K", scaleBytes: 0 },
  }),
  row(16, "iq2_xxs", 256, 66),
  row(17, "iq2_xs", 256, 74),
  row(18, "iq3_xxs", 256, 98),
  row(19, "iq1_s", 256, 50),
  row(20, "iq4_nl", 32, 18),
  row(21, "iq3_s", 256, 110),
  row(22, "iq2_s", 256, 82),
  row(23, "iq4_xs", 256, 136),
  row(24, "i8", 1, 1),
  row(25, "i16", 1, 2),
  row(26, "i32", 1, 4),
  row(27, "i64", 1, 8),
  row(28, "f64", 1, 8),
  row(29, "iq1_m", 256, 56),
  row(30, "bf16", 1, 2, { toFloat: halfToFloat(bf16ToF32), fromFloat: halfFromFloat(f32ToBf16) }),
  // 31-33 and 36-38 were the repacked Q4_0_4_4-style types, removed from GGUF files upstream.
  row(34, "tq1_0", 256, 54),
  row(35, "tq2_0", 256, 66),
  row(39, "mxfp4", 32, 17),
] as const;

/** Indexed by ggml_type id. */
const rows = TYPE_ROWS.reduce<GgmlTypeTraits[]>((table, traits) => ((table[traits.id] = traits), table), []);

/** The types a KV cache can hold (the rows flagged kvCache), as a type of their names. */
export type KvCacheType = Extract<(typeof TYPE_ROWS)[number], { readonly kvCache: true }>["name"];

/** The traits of a ggml type id, or undefined for an id no ggml release defines. */
export function ggmlType(id: number): GgmlTypeTraits | undefined {
  return rows[id];
}

/** The traits of a type by ggml name (`q4_0`), case-insensitive. */
export function ggmlTypeByName(name: string): GgmlTypeTraits | undefined {
  const lower = name.toLowerCase();
  return rows.find((t) => t !== undefined && t.name.toLowerCase() === lower);
}

export const GGML_TYPES: readonly GgmlTypeTraits[] = rows.filter((t) => t !== undefined);

/** Names of the types that can be converted to float (the ones the engine computes with). */
export const COMPUTABLE_TYPES: readonly string[] = GGML_TYPES.filter((t) => t.toFloat).map((t) => t.name);
/** Types a weight matrix can have: those with a matrix-vector kernel. */
export const MATRIX_TYPES: readonly string[] = GGML_TYPES.filter((t) => t.matvec).map((t) => t.name);

/** Bytes of a row of n elements; n must be a multiple of the block size. */
export function rowBytes(traits: GgmlTypeTraits, n: number): number {
  return (n / traits.blockSize) * traits.typeSize;
}

type ActivationType = GgmlTypeTraits & { readonly activation: ActivationTraits };

/** Each weight type's activation type by the weight type's name, resolved once: products ask on every call. */
const ACTIVATION_BY_WEIGHTS = new Map<string, ActivationType>(
  GGML_TYPES.flatMap((t) => {
    const a = t.vecDotType === undefined ? undefined : ggmlTypeByName(t.vecDotType);
    return a?.activation ? [[t.name, a as ActivationType] as const] : [];
  }),
);

/** The type a weight type's products convert activations to, with its converter and scales. */
export function activationOf(weights: GgmlTypeTraits): ActivationType {
  const a = ACTIVATION_BY_WEIGHTS.get(weights.name);
  if (!a) throw new Error(`type ${weights.name} has no activation type with a converter (vecDotType ${weights.vecDotType})`);
  return a;
}

/** The float converter of a tensor's type, or an UnsupportedTensorTypeError naming the tensor. */
export function toFloatOf(traits: GgmlTypeTraits, tensorName: string): ToFloat {
  if (!traits.toFloat) throw new UnsupportedTensorTypeError(tensorName, traits.name, COMPUTABLE_TYPES);
  return traits.toFloat;
}

export function fromFloatOf(traits: GgmlTypeTraits, tensorName: string): FromFloat {
  if (!traits.fromFloat) throw new UnsupportedTensorTypeError(tensorName, traits.name, COMPUTABLE_TYPES);
  return traits.fromFloat;
}
