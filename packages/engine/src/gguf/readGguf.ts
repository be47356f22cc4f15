// A synchronous GGUF reader: header, metadata and tensor table, never tensor data.
// Format: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md; checks after ggml/src/gguf.cpp.
// Every count and length is checked against the bytes left before anything is allocated, so a hostile
// file gets a GgufFormatError with the offset, never a huge allocation or a hang.
import { ggmlType, rowBytes, type GgmlTypeTraits } from "@cpu-llm/kernels";
import { fileSource, memorySource, type ByteSource } from "./byteSource.js";
import { GgufFormatError } from "./errors.js";
import { GgufType, isGgufType, minItemBytes, TYPED_ARRAYS, type GgufArray, type GgufKv, type GgufValue } from "./values.js";

export const GGUF_MAGIC = 0x46554747; // "GGUF" little-endian
export const GGUF_DEFAULT_ALIGNMENT = 32;
/** GGML_MAX_DIMS */
export const GGUF_MAX_DIMS = 4;
const MAX_ARRAY_NESTING = 16;

export interface GgufTensorInfo {
  readonly name: string;
  /** ne[0] first, as in GGUF and ggml: ne[0] is the row length. */
  readonly dims: readonly number[];
  readonly type: GgmlTypeTraits;
  /** Offset of the data from the start of the data section. */
  readonly offset: number;
  /** Offset of the data from the start of the file. */
  readonly fileOffset: number;
  readonly nElements: number;
  readonly nBytes: number;
}

export interface GgufFile {
  readonly path?: string;
  readonly version: number;
  readonly fileSize: number;
  readonly alignment: number;
  /** Where the tensor data section starts. */
  readonly dataOffset: number;
  readonly metadata: ReadonlyMap<string, GgufKv>;
  readonly tensors: readonly GgufTensorInfo[];
}

/** Reads a GGUF file's header and tensor table (no tensor data). */
export function readGguf(path: string): GgufFile {
  const source = fileSource(path);
  try {
    return parseGgufSource(source, path);
  } finally {
    source.close();
  }
}

/** Parses a GGUF held in memory (tests, fuzzing). */
export function parseGguf(bytes: Uint8Array): GgufFile {
  return parseGgufSource(memorySource(bytes));
}


class Cursor {
  pos = 0;
  private buf = Buffer.alloc(1 << 16);
  private view = new DataView(this.buf.buffer);
  private bufStart = 0;
  private bufLen = 0;

  constructor(
    private readonly source: ByteSource,
    private readonly path: string | undefined,
  ) {}

  fail(reason: string, offset = this.pos): never {
    throw new GgufFormatError(reason, offset, this.path);
  }

  get remaining(): number {
    return this.source.size - this.pos;
  }

  /** Makes n bytes at pos available; returns their index in buf. */
  private take(n: number, what: string): number {
    if (n > this.remaining) this.fail(`${what} needs ${n} bytes, only ${this.remaining} left in the file`);
    if (this.pos < this.bufStart || this.pos + n > this.bufStart + this.bufLen) {
      if (n > this.buf.length) {
        this.buf = Buffer.alloc(Math.max(n, this.buf.length * 2));
        this.view = new DataView(this.buf.buffer);
      }
      this.bufStart = this.pos;
      this.bufLen = this.source.read(this.buf.subarray(0, Math.min(this.buf.length, this.remaining)), this.pos);
      if (this.bufLen < n) this.fail(`${what}: file shrank while reading`);
    }
    const at = this.pos - this.bufStart;
    this.pos += n;
    return at;
  }

  u8 = (what = "u8") => this.buf[this.take(1, what)];
  i8 = (what = "i8") => this.view.getInt8(this.take(1, what));
  u16 = (what = "u16") => this.view.getUint16(this.take(2, what), true);
  i16 = (what = "i16") => this.view.getInt16(this.take(2, what), true);
  u32 = (what = "u32") => this.view.getUint32(this.take(4, what), true);
  i32 = (what = "i32") => this.view.getInt32(this.take(4, what), true);
  f32 = (what = "f32") => this.view.getFloat32(this.take(4, what), true);
  f64 = (what = "f64") => this.view.getFloat64(this.take(8, what), true);
  u64 = (what = "u64") => this.view.getBigUint64(this.take(8, what), true);
  i64 = (what = "i64") => this.view.getBigInt64(this.take(8, what), true);

  /** A u64 count or size that must fit in what is left of the file at minBytes per unit. */
  count(what: string, minBytes: number): number {
    const at = this.take(8, what);
    // Two u32 halves, not a BigInt: this runs once per vocabulary string. Past 2^53 n is inexact but
    // then far beyond any file, which is all the check needs.
    const n = this.view.getUint32(at + 4, true) * 2 ** 32 + this.view.getUint32(at, true);
    if (n * minBytes > this.remaining) {
      const exact = this.view.getBigUint64(at, true);
      this.fail(`${what} is ${exact}, but only ${this.remaining} bytes are left (at least ${minBytes} per item)`, this.pos - 8);
    }
    return n;
  }

  string(what: string): string {
    const length = this.count(`${what} length`, 1);
    const at = this.take(length, what);
    // Buffer's native UTF-8 slice: several times faster than TextDecoder on 400k short vocabulary strings,
    // and like it (with ignoreBOM) keeps a leading U+FEFF, a real token in SentencePiece vocabularies.
    return this.buf.toString("utf8", at, at + length);
  }

  /** Copies n raw bytes into a fresh, aligned buffer. */
  bytes(n: number, what: string): ArrayBuffer {
    const at = this.take(n, what);
    return this.buf.buffer.slice(this.buf.byteOffset + at, this.buf.byteOffset + at + n);
  }
}

function readValue(c: Cursor, type: GgufType, what: string, depth: number): GgufValue {
  switch (type) {
    case GgufType.UINT8: return c.u8(what);
    case GgufType.INT8: return c.i8(what);
    case GgufType.UINT16: return c.u16(what);
    case GgufType.INT16: return c.i16(what);
    case GgufType.UINT32: return c.u32(what);
    case GgufType.INT32: return c.i32(what);
    case GgufType.FLOAT32: return c.f32(what);
    case GgufType.FLOAT64: return c.f64(what);
    case GgufType.UINT64: return c.u64(what);
    case GgufType.INT64: return c.i64(what);
    case GgufType.BOOL: return c.u8(what) !== 0;
    case GgufType.STRING: return c.string(what);
    case GgufType.ARRAY: return readArray(c, what, depth);
  }
}

function readArray(c: Cursor, what: string, depth: number): GgufArray {
  if (depth >= MAX_ARRAY_NESTING) c.fail(`${what}: arrays nested deeper than ${MAX_ARRAY_NESTING}`);
  const typeAt = c.pos;
  const itemType = c.u32(`${what} item type`);
  if (!isGgufType(itemType)) c.fail(`${what} has unknown array item type ${itemType}`, typeAt);
  const n = c.count(`${what} item count`, minItemBytes(itemType));
  if (itemType === GgufType.STRING) {
    const items = new Array<string>(n);
    for (let i = 0; i < n; i++) items[i] = c.string(`${what}[${i}]`);
    return { itemType, items };
  }
  if (itemType === GgufType.ARRAY) {
    const items = new Array<GgufArray>(n);
    for (let i = 0; i < n; i++) items[i] = readArray(c, `${what}[${i}]`, depth + 1);
    return { itemType, items };
  }
  if (itemType === GgufType.BOOL) {
    const items = new Array<boolean>(n);
    for (let i = 0; i < n; i++) items[i] = c.u8(what) !== 0;
    return { itemType, items };
  }
  const Typed = TYPED_ARRAYS[itemType];
  return { itemType, items: new Typed(c.bytes(n * Typed.BYTES_PER_ELEMENT, what)) };
}

function parseGgufSource(source: ByteSource, path?: string): GgufFile {
  const c: Cursor = new Cursor(source, path);
  const magic = c.u32("magic");
  if (magic !== GGUF_MAGIC) {
    c.fail(`bad magic 0x${magic.toString(16).padStart(8, "0")} (expected "GGUF")`, 0);
  }
  const version = c.u32("version");
  if (version === 1) c.fail("GGUF version 1 (32-bit counts, 2023) is not supported; reconvert the model", 4);
  if (version !== 2 && version !== 3) {
    const swapped = ((version & 0xff) << 24) | ((version & 0xff00) << 8) | ((version >>> 8) & 0xff00) | (version >>> 24);
    if (swapped === 2 || swapped === 3) c.fail("big-endian GGUF files are not supported", 4);
    c.fail(`unknown GGUF version ${version} (supported: 2, 3)`, 4);
  }
  // A tensor info takes at least 24 bytes (name length, n_dims, type, offset); a key-value at least 13.
  const nTensors = c.count("tensor count", 24);
  const nKv = c.count("metadata count", 13);

  const metadata = new Map<string, GgufKv>();
  for (let i = 0; i < nKv; i++) {
    const keyAt = c.pos;
    const key = c.string(`metadata key #${i}`);
    if (metadata.has(key)) c.fail(`duplicate metadata key '${key}'`, keyAt);
    const typeAt = c.pos;
    const type = c.u32(`type of '${key}'`);
    if (!isGgufType(type)) c.fail(`metadata '${key}' has unknown value type ${type}`, typeAt);
    metadata.set(key, { key, type, value: readValue(c, type, `'${key}'`, 0), offset: keyAt });
  }

  let alignment = GGUF_DEFAULT_ALIGNMENT;
  const alignKv = metadata.get("general.alignment");
  if (alignKv) {
    const a = alignKv.value;
    if (alignKv.type !== GgufType.UINT32 || typeof a !== "number" || a === 0 || (a & (a - 1)) !== 0) {
      c.fail(`general.alignment must be a power-of-two u32, got ${String(a)}`);
    }
    alignment = a as number;
  }

  interface RawTensor { name: string; dims: number[]; type: GgmlTypeTraits; offset: bigint; nElements: number; at: number }
  const raw: RawTensor[] = [];
  const names = new Set<string>();
  for (let i = 0; i < nTensors; i++) {
    const at = c.pos;
    const name = c.string(`tensor #${i} name`);
    if (names.has(name)) c.fail(`duplicate tensor name '${name}'`, at);
    names.add(name);
    const nDimsAt = c.pos;
    const nDims = c.u32(`tensor '${name}' n_dims`);
    if (nDims > GGUF_MAX_DIMS) c.fail(`tensor '${name}' has ${nDims} dimensions (at most ${GGUF_MAX_DIMS})`, nDimsAt);
    const dims: number[] = [];
    let product = 1n;
    for (let d = 0; d < nDims; d++) {
      const dimAt = c.pos;
      const ne = c.i64(`tensor '${name}' ne[${d}]`);
      if (ne < 0n) c.fail(`tensor '${name}' has negative dimension ne[${d}] = ${ne}`, dimAt);
      product *= ne;
      if (product > BigInt(source.size) * 8n) {
        c.fail(`tensor '${name}' dimensions multiply to more elements than the file could hold`, dimAt);
      }
      dims.push(Number(ne));
    }
    const typeAt = c.pos;
    const typeId = c.u32(`tensor '${name}' type`);
    const type = ggmlType(typeId);
    if (!type) c.fail(`tensor '${name}' has unknown ggml type ${typeId}`, typeAt);
    if ((dims[0] ?? 1) % type.blockSize !== 0) {
      c.fail(`tensor '${name}' row length ${dims[0]} is not a multiple of ${type.name}'s block size ${type.blockSize}`, typeAt);
    }
    const offset = c.u64(`tensor '${name}' offset`);
    raw.push({ name, dims, type, offset, nElements: Number(product), at });
  }

  const dataOffset = Math.ceil(c.pos / alignment) * alignment;
  const dataBytes = source.size - dataOffset;
  const tensors: GgufTensorInfo[] = raw.map((t) => {
    const nBytes = rowBytes(t.type, t.nElements);
    if (t.offset % BigInt(alignment) !== 0n) {
      c.fail(`tensor '${t.name}' data offset ${t.offset} is not a multiple of the alignment ${alignment}`, t.at);
    }
    // Unclamped: a file cut inside the padding before its data section fails even for a tensor of no bytes.
    if (t.offset + BigInt(nBytes) > BigInt(dataBytes)) {
      c.fail(
        `tensor '${t.name}' data (${nBytes} bytes at data offset ${t.offset}) runs past the end of the file ` +
          `(${Math.max(0, dataBytes)} bytes of data from byte ${dataOffset})`,
        t.at,
      );
    }
    const offset = Number(t.offset);
    return { name: t.name, dims: t.dims, type: t.type, offset, fileOffset: dataOffset + offset, nElements: t.nElements, nBytes };
  });

  const byOffset = tensors.map((t, i) => ({ t, at: raw[i].at })).sort((a, b) => a.t.offset - b.t.offset);
  for (let i = 1; i < byOffset.length; i++) {
    const prev = byOffset[i - 1].t;
    const cur = byOffset[i];
    if (cur.t.nBytes > 0 && prev.offset + prev.nBytes > cur.t.offset) {
      c.fail(`tensor '${cur.t.name}' data overlaps tensor '${prev.name}'`, cur.at);
    }
  }

  return { path, version, fileSize: source.size, alignment, dataOffset, metadata, tensors };
}
