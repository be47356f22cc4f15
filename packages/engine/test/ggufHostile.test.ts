// Hostile and corrupt GGUF files: each must be a GgufFormatError naming an offset inside the file,
// never another exception, a huge allocation or a hang.
import * as fs from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encodeGguf, GgufFormatError, GgufType, kv, parseGguf, type GgufSpec } from "@cpu-llm/engine";
import { DEMO_MODEL } from "../../../test/helpers/fixtures.js";
import { ggufSpec } from "./arbitraries.js";

const valid: GgufSpec = {
  metadata: [kv.string("general.architecture", "llama"), kv.strings("tokenizer.ggml.tokens", ["a", "b", "c"]), kv.u32("n", 7)],
  tensors: [
    { name: "w", type: "q8_0", dims: [32, 2], data: new Float32Array(64).fill(0.5) },
    { name: "v", type: "f32", dims: [4], data: new Float32Array(4) },
  ],
};
const base = encodeGguf(valid);
const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** Offsets of fields in `base`, found by walking it (magic 0, version 4, n_tensors 8, n_kv 16, first key 24). */
const AT = { version: 4, nTensors: 8, nKv: 16, firstKeyLength: 24 };

function expectFormatError(bytes: Uint8Array, message?: RegExp): GgufFormatError {
  let error: unknown;
  try {
    parseGguf(bytes);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(GgufFormatError);
  const e = error as GgufFormatError;
  expect(e.offset).toBeGreaterThanOrEqual(0);
  expect(e.offset).toBeLessThanOrEqual(bytes.length);
  if (message) expect(e.message).toMatch(message);
  return e;
}

function patched(at: number, write: (v: DataView, at: number) => void, bytes = base): Uint8Array {
  const copy = bytes.slice();
  write(view(copy), at);
  return copy;
}

/** Offset of the first tensor info (after the metadata), found by parsing the header's own layout. */
function tensorInfoOffset(): number {
  const header = encodeGguf({ metadata: valid.metadata, tensors: [] });
  return header.length;
}

describe("hostile GGUF headers", () => {
  it("parses the valid base file", () => {
    expect(parseGguf(base).tensors).toHaveLength(2);
  });

  it("rejects every truncation of a valid file", () => {
    const g = parseGguf(base);
    const lastTensorEnd = Math.max(...g.tensors.map((t) => t.fileOffset + t.nBytes));
    for (let n = 0; n < lastTensorEnd; n++) expectFormatError(base.subarray(0, n));
  });

  it("rejects a file cut inside the padding before its data section, even when its only tensor is empty", () => {
    // Found by the mutation property below: a tensor of no bytes once passed a check clamped at zero.
    const empty = encodeGguf({ metadata: [kv.u32("a", 1)], tensors: [{ name: "e", type: "f32", dims: [32, 0], data: [] }] });
    const g = parseGguf(empty);
    for (let n = 0; n < g.dataOffset; n++) expectFormatError(empty.subarray(0, n));
  });

  it("rejects bad magic, unknown versions and big-endian files", () => {
    expectFormatError(patched(0, (v) => v.setUint32(0, 0x47475546, true)), /magic/);
    expectFormatError(patched(AT.version, (v, at) => v.setUint32(at, 4, true)), /version 4/);
    expectFormatError(patched(AT.version, (v, at) => v.setUint32(at, 1, true)), /version 1/);
    expectFormatError(patched(AT.version, (v, at) => v.setUint32(at, 3, false)), /big-endian/);
  });

  it("rejects absurd counts before allocating", () => {
    expectFormatError(patched(AT.nTensors, (v, at) => v.setBigUint64(at, 2n ** 60n, true)), /tensor count/);
    expectFormatError(patched(AT.nKv, (v, at) => v.setBigUint64(at, 2n ** 64n - 1n, true)), /metadata count/);
    expectFormatError(patched(AT.firstKeyLength, (v, at) => v.setBigUint64(at, 2n ** 62n, true)), /length/);
    const arrays = encodeGguf({ metadata: [kv.strings("t", ["x"])], tensors: [] });
    // key "t" (8 + 1), value type (4), item type (4): the item count follows.
    expectFormatError(patched(24 + 9 + 4 + 4, (v, at) => v.setBigUint64(at, 2n ** 59n, true), arrays), /item count/);
  });

  it("rejects arrays nested past any sane depth without overflowing the stack", () => {
    // 10,000 levels of ARRAY-of-one-ARRAY: a recursive reader without a limit would blow the stack.
    const depth = 10_000;
    const bytes = new Uint8Array(24 + 8 + 1 + 4 + depth * 12);
    const v = view(bytes);
    v.setUint32(0, 0x46554747, true);
    v.setUint32(4, 3, true);
    v.setBigUint64(16, 1n, true);
    v.setBigUint64(24, 1n, true);
    bytes[32] = 0x6b; // key "k"
    let at = 33;
    v.setUint32(at, GgufType.ARRAY, true);
    at += 4;
    for (let i = 0; i < depth - 1; i++, at += 12) {
      v.setUint32(at, GgufType.ARRAY, true);
      v.setBigUint64(at + 4, 1n, true);
    }
    expectFormatError(bytes, /nested/);
  });

  it("rejects bad tensor infos: types, dimensions, offsets", () => {
    const ti = tensorInfoOffset(); // name "w": length 8 + 1 byte, n_dims 4, ne 2×8, type 4, offset 8
    const nDims = ti + 9;
    const ne0 = nDims + 4;
    const type = ne0 + 16;
    const offset = type + 4;
    expectFormatError(patched(nDims, (v, at) => v.setUint32(at, 5, true)), /dimensions/);
    expectFormatError(patched(type, (v, at) => v.setUint32(at, 99, true)), /unknown ggml type 99/);
    expectFormatError(patched(type, (v, at) => v.setUint32(at, 4, true)), /unknown ggml type 4/);
    expectFormatError(patched(ne0, (v, at) => v.setBigInt64(at, -32n, true)), /negative/);
    expectFormatError(patched(ne0, (v, at) => v.setBigInt64(at, 33n, true)), /block size/);
    expectFormatError(patched(ne0 + 8, (v, at) => v.setBigInt64(at, 2n ** 62n, true)), /multiply|past the end/);
    expectFormatError(patched(ne0, (v, at) => (v.setBigInt64(at, 2n ** 40n, true), v.setBigInt64(at + 8, 2n ** 40n, true))), /multiply/);
    expectFormatError(patched(offset, (v, at) => v.setBigUint64(at, 8n, true)), /alignment/);
    expectFormatError(patched(offset, (v, at) => v.setBigUint64(at, 2n ** 63n, true)), /past the end/);
    // Point "v" at "w"'s data: the two overlap.
    const vOffset = offset + 8 + 8 + 1 + 4 + 8 + 4;
    expectFormatError(patched(vOffset, (v, at) => v.setBigUint64(at, 0n, true)), /overlaps/);
  });

  it("rejects duplicate keys and tensor names, and a bad alignment", () => {
    const dupKey = encodeGguf({ metadata: [kv.u32("a", 1), kv.u32("a", 2)], tensors: [] });
    expectFormatError(dupKey, /duplicate metadata key 'a'/);
    const dupTensor = encodeGguf({ metadata: [], tensors: [{ name: "x", type: "f32", dims: [1], data: [0] }, { name: "x", type: "f32", dims: [1], data: [0] }] });
    expectFormatError(dupTensor, /duplicate tensor name 'x'/);
    expectFormatError(encodeGguf({ metadata: [kv.u32("general.alignment", 0)], tensors: [] }), /alignment/);
    expectFormatError(encodeGguf({ metadata: [kv.u32("general.alignment", 48)], tensors: [] }), /alignment/);
    expectFormatError(encodeGguf({ metadata: [kv.string("general.alignment", "32")], tensors: [] }), /alignment/);
  });
});

/** A mutation of a valid file: flips, overwrites with extreme values, cuts, splices. */
const mutation = (size: number) =>
  fc.oneof(
    fc.record({ kind: fc.constant("flip" as const), at: fc.nat(size - 1), bit: fc.nat(7) }),
    fc.record({ kind: fc.constant("byte" as const), at: fc.nat(size - 1), value: fc.nat(255) }),
    fc.record({
      kind: fc.constant("u64" as const),
      at: fc.nat(Math.max(0, size - 8)),
      value: fc.constantFrom(0n, 1n, 5n, 0xffffffffn, 2n ** 32n, 2n ** 60n, 2n ** 63n, 2n ** 64n - 1n),
    }),
    fc.record({ kind: fc.constant("cut" as const), at: fc.nat(size) }),
    fc.record({ kind: fc.constant("delete" as const), at: fc.nat(size - 1), length: fc.integer({ min: 1, max: 16 }) }),
    fc.record({ kind: fc.constant("insert" as const), at: fc.nat(size), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  );
type Mutation = typeof mutation extends (n: number) => fc.Arbitrary<infer M> ? M : never;

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function mutate(bytes: Uint8Array, mutations: Mutation[]): Uint8Array {
  let b: Uint8Array = bytes.slice();
  for (const m of mutations) {
    if (b.length === 0) break;
    const at = Math.min(m.at, b.length - 1);
    switch (m.kind) {
      case "flip": b[at] ^= 1 << m.bit; break;
      case "byte": b[at] = m.value; break;
      case "u64": if (at + 8 <= b.length) view(b).setBigUint64(at, m.value, true); break;
      case "cut": b = b.slice(0, m.at); break;
      case "delete": b = concat(b.subarray(0, at), b.subarray(at + m.length)); break;
      case "insert": b = concat(b.subarray(0, at), m.bytes, b.subarray(at)); break;
    }
  }
  return b;
}

function parsesOrFormatError(bytes: Uint8Array): void {
  try {
    const g = parseGguf(bytes);
    // Whatever was accepted is self-consistent.
    for (const t of g.tensors) expect(t.fileOffset + t.nBytes).toBeLessThanOrEqual(bytes.length);
  } catch (e) {
    if (!(e instanceof GgufFormatError)) throw e;
    expect(e.offset).toBeGreaterThanOrEqual(0);
  }
}

describe("mutated GGUF files (property)", () => {
  it("random small files with random mutations: parsed or a GgufFormatError", () => {
    fc.assert(
      fc.property(
        ggufSpec.chain((spec) => {
          const bytes = encodeGguf(spec);
          return fc.tuple(fc.constant(bytes), fc.array(mutation(bytes.length), { minLength: 1, maxLength: 4 }));
        }),
        ([bytes, mutations]) => parsesOrFormatError(mutate(bytes, mutations)),
      ),
      { numRuns: 1500 },
    );
  });

  it("the demo model's header with random mutations: parsed or a GgufFormatError", () => {
    const whole = fs.readFileSync(DEMO_MODEL);
    const headerEnd = parseGguf(whole).dataOffset;
    fc.assert(
      fc.property(
        fc.array(mutation(headerEnd), { minLength: 1, maxLength: 3 }),
        (mutations) => parsesOrFormatError(mutate(whole, mutations)),
      ),
      { numRuns: 1000 },
    );
  });
});
