import { readFileInto, rowBytes, toFloatOf } from "@cpu-llm/kernels";
import type { GgufFile, GgufTensorInfo } from "./readGguf.js";

/** Reads a tensor's raw bytes from its file into dst (or a new buffer). */
export function readTensorBytes(path: string, tensor: GgufTensorInfo, dst = new Uint8Array(tensor.nBytes)): Uint8Array {
  readFileInto(path, dst.subarray(0, tensor.nBytes), tensor.fileOffset);
  return dst;
}

/** A tensor converted to floats (tests and tools; the engine keeps weights in their own type). */
export function readTensorFloats(file: GgufFile, name: string): Float32Array {
  if (file.path === undefined) throw new Error("readTensorFloats needs a GgufFile read from a path (readGguf)");
  const tensor = file.tensors.find((t) => t.name === name);
  if (!tensor) throw new Error(`${file.path}: no tensor named '${name}'`);
  const toFloat = toFloatOf(tensor.type, tensor.name);
  const out = new Float32Array(tensor.nElements);
  toFloat(out, 0, readTensorBytes(file.path, tensor), 0, tensor.nElements);
  return out;
}

/** Where a model's weights hold a NaN or an infinity, if anywhere. */
export interface NonFiniteValue {
  readonly tensor: string;
  /** Index of the first non-finite element in the tensor (row-major, ne[0] fastest). */
  readonly index: number;
  readonly value: number;
}

/**
 * Scans every tensor's values (converted to floats in chunks, so any computable type) for the first NaN or
 * infinity: a file with one generates garbage (every logit NaN) without any other error. Reads the whole file:
 * `cpu-llm inspect --check`, not every load. Tensors of types with no converter are skipped.
 */
export function findNonFinite(file: GgufFile, onProgress?: (fraction: number) => void): NonFiniteValue | undefined {
  if (file.path === undefined) throw new Error("findNonFinite needs a GgufFile read from a path (readGguf)");
  const total = file.tensors.reduce((n, t) => n + t.nBytes, 0);
  let done = 0;
  const CHUNK = 1 << 20; // elements per read
  for (const t of file.tensors) {
    if (!t.type.toFloat) continue;
    const toFloat = toFloatOf(t.type, t.name);
    const perChunk = Math.max(t.type.blockSize, Math.floor(CHUNK / t.type.blockSize) * t.type.blockSize);
    const floats = new Float32Array(perChunk);
    const raw = new Uint8Array(rowBytes(t.type, perChunk));
    for (let first = 0; first < t.nElements; first += perChunk) {
      const n = Math.min(perChunk, t.nElements - first);
      const bytes = rowBytes(t.type, n);
      readFileInto(file.path, raw.subarray(0, bytes), t.fileOffset + rowBytes(t.type, first));
      toFloat(floats, 0, raw, 0, n);
      for (let i = 0; i < n; i++) if (!Number.isFinite(floats[i])) return { tensor: t.name, index: first + i, value: floats[i] };
      done += bytes;
      onProgress?.(done / total);
    }
  }
  return undefined;
}
