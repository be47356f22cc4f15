export { f16ToF32, f32ToF16, bf16ToF32, f32ToBf16 } from "./f16.js";
export {
  ggmlType,
  ggmlTypeByName,
  rowBytes,
  toFloatOf,
  fromFloatOf,
  GGML_TYPES,
  COMPUTABLE_TYPES, MATRIX_TYPES,
  activationOf,
  type ActivationTraits,
  type GgmlTypeTraits,
  type ToFloat,
  type FromFloat,
} from "./ggmlTypes.js";
export {
  quantizeRowQ8_0Ref,
  quantizeRowQ4_0Ref,
  dequantizeRowQ8_0,
  dequantizeRowQ4_0,
  QK8_0,
  QK4_0,
  Q8_0_BYTES,
  Q4_0_BYTES,
  Q4_1_BYTES,
  Q5_0_BYTES,
  Q5_1_BYTES,
  quantizeRowQ4_1Ref,
  quantizeRowQ5_0Ref,
  quantizeRowQ5_1Ref,
  dequantizeRowQ4_1,
  dequantizeRowQ5_0,
  dequantizeRowQ5_1,
} from "./reference/quantize.js";
export { quantizeRowQ8_KRef, dequantizeRowQ8_K, dequantizeRowQ2_K, dequantizeRowQ3_K, dequantizeRowQ4_K, dequantizeRowQ5_K, dequantizeRowQ6_K, QK_K, Q8_K_BYTES, Q2_K_BYTES, Q3_K_BYTES, Q4_K_BYTES, Q5_K_BYTES, Q6_K_BYTES } from "./reference/kquants.js";
export { UnsupportedTensorTypeError } from "./errors.js";
export * from "./system/index.js";
export {
  chooseKernels,
  instantiateKernels,
  KERNEL_RESERVED_BYTES,
  kernelModule,
  sharedMemory,
  wasmFeatures,
  type KernelChoice,
  type KernelVariant,
} from "./wasm/wasmKernels.js";
export { KERNELS, KERNEL_NAMES, callKernel, type KernelExports, type KernelName } from "./wasm/kernelTable.js";
export { quantizeActivationsQ8_0Ref, quantizeActivationsQ8_1Ref, vecDotQ4_0Q8_0Ref, vecDotQ8_0Q8_0Ref, vecDotMagnitude } from "./reference/dot.js";
export * from "./pool/index.js";
export {
  fmaRef, reduceAdd16Ref, vecDotF32Ref, vecDotF16Ref, dotSgemmRef, accumulateRowsF32Ref, accumulateRowsF32TiledRef, expGgmlRef, softmaxGgmlRef, swigluGgmlRef,
  vecDotQ4_0Q8_0RepackedRef,
  vecDotQ4_0Q8_0UnpackedRef, vecDotQ8_0Q8_0LanesRef, rotatePairRef, vecDotQ5_0Q8_0Ref, vecDotQ4_1Q8_1Ref, vecDotQ5_1Q8_1Ref,
} from "./reference/ggmlOrder.js";
export { rmsNormRef, ropeRef, softmaxRef, swigluRef, attentionRef, type RopeMode } from "./reference/ops.js";
export { fmaF32 } from "./fmaF32.js";
export { expF32 } from "./expF32.js";
export { softmaxRow } from "./softmaxRow.js";
export { ropeCache, yarnCorrDims, type RopeParams, type YarnParams } from "./ropeCache.js";
export {
  attend, alibiSlopes, runAttentionRows, ATTENTION_ROWS, type KvTensor, type AttentionScratch, type AttentionShape,
} from "./attention.js";
export { KvCache, KV_CACHE_TYPES, DEFAULT_KV_CACHE_TYPE, parseKvCacheType, kvTypeByName, type KvCacheLayout, type KvCacheType, type AttentionRow } from "./kvCache.js";
export type { WasmMemory, WasmModule, WasmGlobal } from "./wasm/wasmTypes.js";
