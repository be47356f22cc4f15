import { readFileInto, toFloatOf } from "@cpu-llm/kernels";
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
