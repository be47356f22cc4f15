// Loads the AssemblyScript kernels (build/kernels.{relaxed,simd}.wasm) and picks a variant: relaxed SIMD when
// the engine validates it AND it computes the same results as the plain one on a probe (Node 20's relaxed dot
// validates with a flag but computes the old draft semantics), plain simd128 otherwise.
import type { WasmMemory, WasmModule } from "./wasmTypes.js";
import * as fs from "node:fs";
import { kernelMismatches, type KernelExports } from "./kernelTable.js";

/**
 * Bytes at the start of every kernel memory that callers must leave alone: a 64 KiB guard (offset 0 is never
 * a valid pointer) and the half → float table at 64 KiB (assembly/f16.ts).
 */
export const KERNEL_RESERVED_BYTES = 65536 + 65536 * 4;

export type { KernelExports } from "./kernelTable.js";

export type KernelVariant = "relaxed" | "simd";

const wasmUrl = (variant: KernelVariant) => new URL(`../../build/kernels.${variant}.wasm`, import.meta.url);

const modules: Partial<Record<KernelVariant, WebAssembly.Module | null>> = {};

/** The compiled module of a variant, or null when this engine cannot validate it. */
export function kernelModule(variant: KernelVariant): WasmModule | null {
  if (!(variant in modules)) {
    const bytes = fs.readFileSync(wasmUrl(variant));
    modules[variant] = WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
  }
  return modules[variant]!;
}

/** A shared memory of `pages` 64 KiB pages that can grow to 4 GiB. */
export function sharedMemory(pages: number): WasmMemory {
  return new WebAssembly.Memory({ initial: pages, maximum: 65536, shared: true });
}

const checked = new WeakSet<WasmModule>();

/**
 * Kernels on a memory (at least KERNEL_RESERVED_BYTES long); fills the memory's half → float table. A module
 * that lacks a kernel of the table (kernelTable.ts), or declares one with other parameters, is an error here,
 * once per module, instead of a failed call deep in a forward pass.
 */
export function instantiateKernels(module: WasmModule, memory: WasmMemory): KernelExports {
  const exports = new WebAssembly.Instance(module as WebAssembly.Module, { env: { memory: memory as WebAssembly.Memory } }).exports;
  if (!checked.has(module)) {
    const problems = kernelMismatches(exports);
    if (problems.length > 0) throw new Error(`the WebAssembly kernels do not match kernelTable.ts (${problems.join("; ")}): rebuild them with pnpm build`);
    checked.add(module);
  }
  const kernels = exports as unknown as KernelExports;
  kernels.initF16Table();
  return kernels;
}

export interface KernelChoice {
  readonly variant: KernelVariant;
  readonly relaxedSimd: boolean;
  /** Why the variant was chosen. */
  readonly reason: string;
}

let choice: KernelChoice | undefined;

/** Chooses the kernel variant once per process. */
export function chooseKernels(): KernelChoice {
  if (choice) return choice;
  const relaxed = kernelModule("relaxed");
  if (!relaxed) {
    choice = { variant: "simd", relaxedSimd: false, reason: "this engine does not validate relaxed SIMD" };
  } else if (!probeAgrees(relaxed, kernelModule("simd")!)) {
    choice = {
      variant: "simd", relaxedSimd: true,
      reason: "relaxed SIMD disagrees with simd128 on a probe (a CPU without FMA, or Node 20's draft semantics)",
    };
  } else {
    // Both are valid and agree bit for bit, so the choice changes no result, only speed. Relaxed's integer dot
    // lowers to AVX-VNNI or pmaddubsw on x86 (and sdot on ARM) where simd128 needs several instructions: the Q4_0
    // dot took 4.0 against 6.6 ns per block on a Zen 5 (best of 200 runs each). A fixed rule, not a timing
    // race: a few-millisecond timing on a busy 2-core machine picked simd128 now and then, which made speed
    // (and a test) depend on the moment.
    choice = { variant: "relaxed", relaxedSimd: true, reason: "relaxed SIMD validated and agrees with simd128 on a probe" };
  }
  return choice;
}

/**
 * Runs the kernels where the variants differ (the integer dot; fused multiply-adds, which relaxed_madd fuses
 * only on CPUs with FMA) on the same random data in both; every output must agree bit for bit. Random rows
 * over 64 blocks all but surely contain sums whose unfused rounding differs.
 */
function probeAgrees(relaxed: WebAssembly.Module, simd: WebAssembly.Module): boolean {
  const rows = 8, blocks = 64, at = KERNEL_RESERVED_BYTES;
  const memory = sharedMemory(KERNEL_RESERVED_BYTES / 65536 + 2);
  const bytes = new Uint8Array(memory.buffer, at, 65536);
  let seed = 12345;
  const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8;
  for (let i = 0; i < rows * blocks * 18; i++) bytes[i] = next() & 0xff;
  // Scales in [1/16, 2): finite sums of every size.
  for (let b = 0; b < rows * blocks; b++) bytes[b * 18 + 1] = 0x2c + (next() % 16);
  const floats = new Float32Array(memory.buffer, at + 20_000, blocks * 32);
  const activations = Float32Array.from(floats, () => (next() / 2 ** 24 - 0.5) * 8);
  const weights = bytes.slice(0, rows * blocks * 18);
  const outputs = [relaxed, simd].map((module) => {
    const k = instantiateKernels(module, memory);
    bytes.set(weights);
    floats.set(activations);
    k.quantizeRowQ8_0(at + 30_000, at + 40_000, floats.byteOffset, floats.length);
    k.matvecQ4_0Unpacked(at + 50_000 + 4 * rows, at, blocks * 18, at + 30_000, at + 40_000, blocks, 0, rows);
    k.repackQ4_0x8(at, blocks * 18, rows, at + 60_000);
    k.matvecQ4_0x8(at + 50_000, at, blocks * 18, at + 30_000, at + 40_000, blocks, 0, rows);
    k.softmax(floats.byteOffset, 40, 0.7, 0);
    return [...new Float32Array(memory.buffer, at + 50_000, 2 * rows), ...floats.subarray(0, 40)];
  });
  return outputs[0].every((v, i) => Object.is(v, outputs[1][i]));
}

/** SIMD, relaxed SIMD and memory64 support of this engine, for `cpu-llm system`. */
export function wasmFeatures(): { simd: boolean; relaxedSimd: boolean; memory64: boolean } {
  // A module with one memory whose limits flag 0x04 makes it 64-bit: valid only where memory64 is.
  const memory64Module = Uint8Array.of(0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x05, 0x03, 0x01, 0x04, 0x00);
  return {
    simd: kernelModule("simd") !== null,
    relaxedSimd: kernelModule("relaxed") !== null,
    memory64: WebAssembly.validate(memory64Module),
  };
}
