// The kernel table (kernelTable.ts) against what the two WebAssembly builds export, and the type table's
// kernel names against the kernel table: a kernel added on one side only fails here, not in a forward pass.
import { describe, expect, it } from "vitest";
import {
  GGML_TYPES, KERNEL_NAMES, KERNEL_RESERVED_BYTES, KERNELS, KV_CACHE_TYPES, instantiateKernels, kernelModule, sharedMemory,
} from "@cpu-llm/kernels";
import { kernelMismatches } from "../src/wasm/kernelTable.js";

describe("kernel table", () => {
  it.each(["simd", "relaxed"] as const)("the %s build exports every kernel with the table's parameter count", (variant) => {
    const module = kernelModule(variant);
    if (!module) return; // an engine without relaxed SIMD: only the simd build runs here
    const exports = new WebAssembly.Instance(module as WebAssembly.Module, { env: { memory: sharedMemory(KERNEL_RESERVED_BYTES / 65536 + 1) as WebAssembly.Memory } }).exports;
    expect(kernelMismatches(exports)).toEqual([]);
    for (const name of KERNEL_NAMES) expect((exports[name] as (...a: number[]) => unknown).length, name).toBe(KERNELS[name].params.length);
  });

  it("names what a module lacks or declares otherwise", () => {
    const exports = new WebAssembly.Instance(kernelModule("simd")! as WebAssembly.Module, { env: { memory: sharedMemory(KERNEL_RESERVED_BYTES / 65536 + 1) as WebAssembly.Memory } }).exports;
    const doctored: Record<string, unknown> = { ...exports, matvecQ8_0: undefined, softmax: (a: number) => a };
    expect(kernelMismatches(doctored)).toEqual(["matvecQ8_0 is missing", "softmax takes 1 parameters, the table says 4"]);
    expect(() => instantiateKernels(kernelModule("simd")!, sharedMemory(KERNEL_RESERVED_BYTES / 65536 + 1))).not.toThrow();
  });

  it("every kernel the type table names is in the kernel table, and every activation type has a converter", () => {
    const fields = ["matvec", "matmul", "repack", "accumulateRows", "accumulateRowsTiled", "scoresGroup", "accumulateGroup"] as const;
    for (const t of GGML_TYPES) {
      for (const f of fields) if (t[f] !== undefined) expect(KERNEL_NAMES, `${t.name}.${f}`).toContain(t[f]);
      for (const k of Object.values(t.unpacked ?? {})) expect(KERNEL_NAMES).toContain(k);
      if (t.matvec) {
        const activation = GGML_TYPES.find((a) => a.name === t.vecDotType);
        expect(activation?.activation, `${t.name}'s vecDotType ${t.vecDotType}`).toBeDefined();
        expect(KERNEL_NAMES).toContain(activation!.activation!.convert);
      }
    }
    // KV cache types are the flagged rows; each needs a converter (keys and values are written through it).
    expect(KV_CACHE_TYPES).toEqual(["f32", "f16", "q8_0"]);
    for (const name of KV_CACHE_TYPES) expect(GGML_TYPES.find((t) => t.name === name)!.activation).toBeDefined();
  });
});
