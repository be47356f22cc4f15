// Loads the AssemblyScript kernels (build/kernels.{relaxed,simd}.wasm) and picks a variant: relaxed SIMD when
// the engine validates it AND it computes the same results as the plain one on a probe (Node 20's relaxed dot
// validates with a flag but computes the old draft semantics), plain simd128 otherwise.
import * as fs from "node:fs";

/**
 * Bytes at the start of every kernel memory that callers must leave alone: a 64 KiB guard (offset 0 is never
 * a valid pointer) and the half → float table at 64 KiB (assembly/f16.ts).
 */
export const KERNEL_RESERVED_BYTES = 65536 + 65536 * 4;

export interface KernelExports {
  initF16Table(): void;
  readonly RELAXED: WebAssembly.Global;
  /** Activations to Q8_0 blocks at dst, and per block d (f32) and Σq (i32) at scales. */
  quantizeRowQ8_0(dst: number, scales: number, src: number, n: number): void;
  dequantizeRowQ8_0(dst: number, src: number, n: number): void;
  vecDotQ4_0Q8_0(w: number, x: number, xs: number, nb: number): number;
  vecDotQ4_0Q8_0Unpacked(w: number, x: number, xs: number, nb: number): number;
  vecDotQ8_0Q8_0(w: number, x: number, xs: number, nb: number): number;
  vecDotF32F32(a: number, b: number, n: number): number;
  matvecQ4_0(out: number, w: number, rowBytes: number, x: number, xs: number, nb: number, r0: number, r1: number): void;
  matvecQ8_0(out: number, w: number, rowBytes: number, x: number, xs: number, nb: number, r0: number, r1: number): void;
  matmulQ4_0(out: number, outStride: number, w: number, rowBytes: number, x: number, xStride: number, xs: number, nb: number, r0: number, r1: number, n: number): void;
  matmulQ8_0(out: number, outStride: number, w: number, rowBytes: number, x: number, xStride: number, xs: number, nb: number, r0: number, r1: number, n: number): void;
  matvecQ4_0Unpacked(out: number, w: number, rowBytes: number, x: number, xs: number, nb: number, r0: number, r1: number): void;
  matmulQ4_0Unpacked(out: number, outStride: number, w: number, rowBytes: number, x: number, xStride: number, xs: number, nb: number, r0: number, r1: number, n: number): void;
  streamRead(src: number, bytes: number): number;
  rmsNorm(out: number, x: number, weight: number, n: number, eps: number): void;
  ropeNorm(x: number, nHeads: number, headDim: number, nDims: number, cs: number): void;
  ropeNeox(x: number, nHeads: number, headDim: number, nDims: number, cs: number): void;
  softmax(x: number, n: number, scale: number): void;
  swiglu(out: number, gate: number, up: number, n: number): void;
  add(out: number, a: number, b: number, n: number): void;
  scale(out: number, a: number, s: number, n: number): void;
  argmax(x: number, n: number): number;
  matvecF16(out: number, w: number, rowBytes: number, x: number, xs: number, n: number, r0: number, r1: number): void;
  matvecF32(out: number, w: number, rowBytes: number, x: number, xs: number, n: number, r0: number, r1: number): void;
  accumulateRowsF32(out: number, p: number, v: number, rowBytes: number, nPos: number, n: number): void;
  accumulateRowsF16(out: number, p: number, v: number, rowBytes: number, nPos: number, n: number): void;
  accumulateRowsQ8_0(out: number, p: number, v: number, rowBytes: number, nPos: number, n: number): void;
  scoresGroupF16(scores: number, q: number, k: number, rowBytes: number, nPos: number, n: number, g: number, acc: number): void;
  accumulateGroupF16(out: number, p: number, v: number, rowBytes: number, nPos: number, n: number, g: number): void;
  roundToF16(dst: number, src: number, n: number): void;
  convertRowF16(dst: number, _scales: number, src: number, n: number): void;
  copyRowF32(dst: number, _scales: number, src: number, n: number): void;
}

export type KernelVariant = "relaxed" | "simd";

const wasmUrl = (variant: KernelVariant) => new URL(`../../build/kernels.${variant}.wasm`, import.meta.url);

const modules: Partial<Record<KernelVariant, WebAssembly.Module | null>> = {};

/** The compiled module of a variant, or null when this engine cannot validate it. */
export function kernelModule(variant: KernelVariant): WebAssembly.Module | null {
  if (!(variant in modules)) {
    const bytes = fs.readFileSync(wasmUrl(variant));
    modules[variant] = WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
  }
  return modules[variant]!;
}

/** A shared memory of `pages` 64 KiB pages that can grow to 4 GiB. */
export function sharedMemory(pages: number): WebAssembly.Memory {
  return new WebAssembly.Memory({ initial: pages, maximum: 65536, shared: true });
}

/** Kernels on a memory (at least KERNEL_RESERVED_BYTES long); fills the memory's half → float table. */
export function instantiateKernels(module: WebAssembly.Module, memory: WebAssembly.Memory): KernelExports {
  const kernels = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as KernelExports;
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
    choice = { variant: "simd", relaxedSimd: true, reason: "relaxed SIMD disagrees with simd128 on a probe (Node 20's draft semantics?)" };
  } else {
    // Both are valid and agree: take the faster (relaxed, wherever the dot product lowers to VNNI or pmaddubsw).
    const [relaxedNs, simdNs] = [timeQ4_0Dot(relaxed), timeQ4_0Dot(kernelModule("simd")!)];
    const timing = `${relaxedNs.toFixed(1)} vs ${simdNs.toFixed(1)} ns per block`;
    choice = relaxedNs <= simdNs
      ? { variant: "relaxed", relaxedSimd: true, reason: `relaxed SIMD validated, agrees with simd128 and is faster (${timing})` }
      : { variant: "simd", relaxedSimd: true, reason: `simd128 is faster here (${timing})` };
  }
  return choice;
}

/** Best of a few runs of a 1024-block Q4_0 dot product, in ns per block (a few ms in all). */
function timeQ4_0Dot(module: WebAssembly.Module): number {
  const blocks = 1024;
  const at = KERNEL_RESERVED_BYTES;
  const memory = sharedMemory(at / 65536 + 2);
  const k = instantiateKernels(module, memory);
  const bytes = new Uint8Array(memory.buffer, at, 65536 * 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24;
  for (let b = 0; b < blocks; b++) bytes[b * 18 + 1] = 0x3c; // finite f16 scales
  const xs = new Float32Array(memory.buffer, at + 100_000, 2 * blocks).fill(1);
  let best = Infinity;
  for (let run = 0; run < 8; run++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < 4; i++) k.vecDotQ4_0Q8_0(at, at + 20_000, xs.byteOffset, blocks);
    best = Math.min(best, Number(process.hrtime.bigint() - start) / (4 * blocks));
  }
  return best;
}

/** Runs the Q4_0 dot of both variants on the same random blocks; they must agree bit for bit. */
function probeAgrees(relaxed: WebAssembly.Module, simd: WebAssembly.Module): boolean {
  const memory = sharedMemory(KERNEL_RESERVED_BYTES / 65536 + 1);
  const bytes = new Uint8Array(memory.buffer, KERNEL_RESERVED_BYTES);
  let seed = 12345;
  for (let i = 0; i < 4096; i++) bytes[i] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
  // Sane f16 scales (1.0) in each block, so the float sums are finite.
  for (let b = 0; b < 8; b++) {
    bytes[b * 18] = 0x00;
    bytes[b * 18 + 1] = 0x3c;
    bytes[1024 + b * 34] = 0x00;
    bytes[1024 + b * 34 + 1] = 0x3c;
  }
  // Activation (d, Σq) = (1.0, 3) per block: 3 exercises the integer "-8·Σq" path.
  const at = KERNEL_RESERVED_BYTES;
  const pairs = new Int32Array(memory.buffer, at + 2048, 16);
  for (let b = 0; b < 8; b++) pairs.set([0x3f800000, 3], 2 * b);
  const a = instantiateKernels(relaxed, memory).vecDotQ4_0Q8_0(at, at + 1024, at + 2048, 8);
  const b = instantiateKernels(simd, memory).vecDotQ4_0Q8_0(at, at + 1024, at + 2048, 8);
  return Object.is(a, b);
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
