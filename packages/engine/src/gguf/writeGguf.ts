// GGUF writer: any metadata, and tensors given as floats (converted with ggml's reference quantizers)
// or as raw bytes already in the tensor's type. Layout as llama.cpp writes it: tensor data in table order,
// each padded to the alignment, so files we write load in llama.cpp too.
import * as fs from "node:fs";
import { fromFloatOf, ggmlTypeByName, rowBytes, type GgmlTypeTraits } from "@cpu-llm/kernels";
import { GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC } from "./readGguf.js";
import { GgufType, SCALAR_BYTES, type GgufArray, type GgufKv, type GgufValue } from "./values.js";

export interface GgufTensorSpec {
  readonly name: string;
  /** ne[0] (row length) first. */
  readonly dims: readonly number[];
  /** A ggml type name (`f32`, `f16`, `bf16`, `q8_0`, `q4_0`) or traits. */
  readonly type: string | GgmlTypeTraits;
  /** Floats to convert (row-major, ne[0] fastest), or a function producing them when the tensor is written. */
  readonly data?: ArrayLike<number> | (() => ArrayLike<number>);
  /** Bytes already in the tensor's type, or a function producing them when the tensor is written. */
  readonly raw?: Uint8Array | (() => Uint8Array);
}

export interface GgufSpec {
  readonly version?: 2 | 3;
  readonly metadata: readonly GgufKv[];
  readonly tensors: readonly GgufTensorSpec[];
}

/** Typed metadata entries for writing: `kv.u32("llama.block_count", 16)`. */
export const kv = {
  u8: (key: string, value: number): GgufKv => ({ key, type: GgufType.UINT8, value }),
  i32: (key: string, value: number): GgufKv => ({ key, type: GgufType.INT32, value }),
  u32: (key: string, value: number): GgufKv => ({ key, type: GgufType.UINT32, value }),
  u64: (key: string, value: bigint): GgufKv => ({ key, type: GgufType.UINT64, value }),
  f32: (key: string, value: number): GgufKv => ({ key, type: GgufType.FLOAT32, value }),
  bool: (key: string, value: boolean): GgufKv => ({ key, type: GgufType.BOOL, value }),
  string: (key: string, value: string): GgufKv => ({ key, type: GgufType.STRING, value }),
  array: (key: string, value: GgufArray): GgufKv => ({ key, type: GgufType.ARRAY, value }),
  strings: (key: string, items: string[]): GgufKv => ({ key, type: GgufType.ARRAY, value: { itemType: GgufType.STRING, items } }),
  f32s: (key: string, items: ArrayLike<number>): GgufKv => ({
    key, type: GgufType.ARRAY, value: { itemType: GgufType.FLOAT32, items: Float32Array.from(items) },
  }),
  i32s: (key: string, items: ArrayLike<number>): GgufKv => ({
    key, type: GgufType.ARRAY, value: { itemType: GgufType.INT32, items: Int32Array.from(items) },
  }),
};

const utf8 = new TextEncoder();

class ByteWriter {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  length = 0;

  private room(n: number): number {
    if (this.length + n > this.buf.length) {
      const bigger = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
      bigger.set(this.buf.subarray(0, this.length));
      this.buf = bigger;
      this.view = new DataView(bigger.buffer);
    }
    const at = this.length;
    this.length += n;
    return at;
  }

  // room() may replace buf and view, so it runs before either is read.
  u8(v: number) {
    const at = this.room(1);
    this.buf[at] = v;
  }
  u32(v: number) {
    const at = this.room(4);
    this.view.setUint32(at, v, true);
  }
  u64(v: number | bigint) {
    const at = this.room(8);
    this.view.setBigUint64(at, BigInt(v), true);
  }
  bytes(b: Uint8Array) {
    const at = this.room(b.length);
    this.buf.set(b, at);
  }
  string(s: string) {
    const b = utf8.encode(s);
    this.u64(b.length);
    this.bytes(b);
  }

  scalar(type: GgufType, v: GgufValue) {
    const at = this.room(SCALAR_BYTES[type]!);
    const view = this.view;
    switch (type) {
      case GgufType.UINT8: view.setUint8(at, v as number); break;
      case GgufType.INT8: view.setInt8(at, v as number); break;
      case GgufType.UINT16: view.setUint16(at, v as number, true); break;
      case GgufType.INT16: view.setInt16(at, v as number, true); break;
      case GgufType.UINT32: view.setUint32(at, v as number, true); break;
      case GgufType.INT32: view.setInt32(at, v as number, true); break;
      case GgufType.FLOAT32: view.setFloat32(at, v as number, true); break;
      case GgufType.FLOAT64: view.setFloat64(at, v as number, true); break;
      case GgufType.UINT64: view.setBigUint64(at, BigInt(v as number | bigint), true); break;
      case GgufType.INT64: view.setBigInt64(at, BigInt(v as number | bigint), true); break;
      case GgufType.BOOL: view.setUint8(at, v ? 1 : 0); break;
      default: throw new Error(`not a scalar GGUF type: ${type}`);
    }
  }

  value(type: GgufType, v: GgufValue) {
    if (type === GgufType.STRING) return this.string(v as string);
    if (type !== GgufType.ARRAY) return this.scalar(type, v);
    const array = v as GgufArray;
    this.u32(array.itemType);
    const items = array.items as ArrayLike<GgufValue>;
    this.u64(items.length);
    for (let i = 0; i < items.length; i++) this.value(array.itemType, items[i]);
  }

  pad(alignment: number) {
    const n = (alignment - (this.length % alignment)) % alignment;
    this.room(n);
  }

  take(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

function traitsOf(t: GgufTensorSpec): GgmlTypeTraits {
  if (typeof t.type !== "string") return t.type;
  const traits = ggmlTypeByName(t.type);
  if (!traits) throw new Error(`tensor '${t.name}': unknown ggml type '${t.type}'`);
  return traits;
}

function tensorBytes(t: GgufTensorSpec, traits: GgmlTypeTraits): Uint8Array {
  const nElements = t.dims.reduce((a, b) => a * b, 1);
  const nBytes = rowBytes(traits, nElements);
  if (t.raw) {
    const raw = typeof t.raw === "function" ? t.raw() : t.raw;
    if (raw.length !== nBytes) throw new Error(`tensor '${t.name}': raw data is ${raw.length} bytes, expected ${nBytes}`);
    return raw;
  }
  if (!t.data) throw new Error(`tensor '${t.name}' has neither data nor raw bytes`);
  const floats = typeof t.data === "function" ? t.data() : t.data;
  if (floats.length !== nElements) throw new Error(`tensor '${t.name}': ${floats.length} values for ${nElements} elements`);
  const out = new Uint8Array(nBytes);
  fromFloatOf(traits, t.name)(out, 0, floats, 0, nElements);
  return out;
}

/** The file as a sequence of chunks: header first, then each tensor's padded data. */
export function* ggufChunks(spec: GgufSpec): Generator<Uint8Array> {
  const alignKv = spec.metadata.find((m) => m.key === "general.alignment");
  const alignment = alignKv ? (alignKv.value as number) : GGUF_DEFAULT_ALIGNMENT;
  const types = spec.tensors.map((t) => {
    const traits = traitsOf(t);
    if ((t.dims[0] ?? 1) % traits.blockSize !== 0) {
      throw new Error(`tensor '${t.name}': row length ${t.dims[0]} is not a multiple of ${traits.name}'s block size ${traits.blockSize}`);
    }
    return traits;
  });

  const header = new ByteWriter();
  header.u32(GGUF_MAGIC);
  header.u32(spec.version ?? 3);
  header.u64(spec.tensors.length);
  header.u64(spec.metadata.length);
  for (const m of spec.metadata) {
    header.string(m.key);
    header.u32(m.type);
    header.value(m.type, m.value);
  }
  let offset = 0;
  spec.tensors.forEach((t, i) => {
    header.string(t.name);
    header.u32(t.dims.length);
    for (const d of t.dims) header.u64(d);
    header.u32(types[i].id);
    header.u64(offset);
    const n = rowBytes(types[i], t.dims.reduce((a, b) => a * b, 1));
    offset += Math.ceil(n / alignment) * alignment;
  });
  // A file without tensors ends with its header, as llama.cpp writes vocab-only files.
  if (spec.tensors.length > 0) header.pad(alignment);
  yield header.take();

  for (let i = 0; i < spec.tensors.length; i++) {
    const bytes = tensorBytes(spec.tensors[i], types[i]);
    yield bytes;
    const padding = (alignment - (bytes.length % alignment)) % alignment;
    if (padding) yield new Uint8Array(padding);
  }
}

/** The whole file in memory (small models, tests). */
export function encodeGguf(spec: GgufSpec): Uint8Array {
  const chunks = [...ggufChunks(spec)];
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** Streams the file to disk one tensor at a time, so a multi-GB model never sits in memory whole. */
export function writeGgufFile(path: string, spec: GgufSpec): void {
  const fd = fs.openSync(path, "w");
  try {
    for (const chunk of ggufChunks(spec)) {
      let done = 0;
      while (done < chunk.length) done += fs.writeSync(fd, chunk, done, chunk.length - done);
    }
  } finally {
    fs.closeSync(fd);
  }
}
