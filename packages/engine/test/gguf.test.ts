import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  encodeGguf,
  GgufType,
  kv,
  metaNumber,
  metaString,
  parseGguf,
  readGguf,
  readTensorBytes,
  readTensorFloats,
  writeGgufFile,
  type GgufKv,
} from "@cpu-llm/engine";
import { ggmlTypeByName } from "@cpu-llm/kernels";
import { fixture, fixturesPresent, listFixtures } from "../../../test/helpers/fixtures.js";
import { ggufSpec } from "./arbitraries.js";

const plain = (kvs: Iterable<GgufKv>) =>
  [...kvs].map(({ key, type, value }) => ({ key, type, value: JSON.parse(JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? `${v}n` : ArrayBuffer.isView(v) ? Array.from(v as unknown as ArrayLike<unknown>) : v))) }));

describe("GGUF writer → reader", () => {
  it("round-trips any metadata and tensors exactly", () => {
    fc.assert(
      fc.property(ggufSpec, fc.constantFrom(2, 3) as fc.Arbitrary<2 | 3>, (spec, version) => {
        const bytes = encodeGguf({ ...spec, version });
        const file = parseGguf(bytes);
        expect(file.version).toBe(version);
        expect(plain(file.metadata.values())).toEqual(plain(spec.metadata));
        expect(file.dataOffset % file.alignment).toBe(0);
        expect(file.tensors.map((t) => [t.name, t.type.name, t.dims])).toEqual(spec.tensors.map((t) => [t.name, t.type, t.dims]));
        for (const [i, t] of file.tensors.entries()) {
          const traits = ggmlTypeByName(spec.tensors[i].type as string)!;
          const expected = new Uint8Array(t.nBytes);
          traits.fromFloat!(expected, 0, spec.tensors[i].data as Float32Array, 0, t.nElements);
          expect(bytes.subarray(t.fileOffset, t.fileOffset + t.nBytes)).toEqual(expected);
        }
      }),
      { numRuns: 200 },
    );
  });

  it("honours general.alignment and streams to disk", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cpu-llm-gguf-"));
    const file = path.join(dir, "a.gguf");
    const data = Float32Array.from({ length: 64 }, (_, i) => i / 7);
    writeGgufFile(file, {
      metadata: [kv.string("general.architecture", "llama"), kv.u32("general.alignment", 64), kv.u64("big", 2n ** 60n)],
      tensors: [
        { name: "a", type: "f32", dims: [32, 1], data: data.subarray(0, 32) },
        { name: "b", type: "q8_0", dims: [64], data },
      ],
    });
    const g = readGguf(file);
    expect(g.alignment).toBe(64);
    expect(g.tensors[1].offset).toBe(128);
    expect(g.dataOffset % 64).toBe(0);
    expect(metaString(g, "general.architecture")).toBe("llama");
    expect(() => metaNumber(g, "big")).toThrow(/big/);
    expect(readTensorFloats(g, "a")).toEqual(data.subarray(0, 32));
    const q = readTensorFloats(g, "b");
    for (let i = 0; i < 64; i++) expect(Math.abs(q[i] - data[i])).toBeLessThan(0.05);
    fs.rmSync(dir, { recursive: true });
  });

  it("reads typed arrays and nested arrays with their item types", () => {
    const bytes = encodeGguf({
      metadata: [
        kv.f32s("scores", [0.5, -1]),
        kv.array("nested", { itemType: GgufType.ARRAY, items: [{ itemType: GgufType.STRING, items: ["a", "ß"] }] }),
      ],
      tensors: [],
    });
    const g = parseGguf(bytes);
    expect(g.metadata.get("scores")!.value).toEqual({ itemType: GgufType.FLOAT32, items: Float32Array.of(0.5, -1) });
    expect(g.metadata.get("nested")!.value).toEqual({ itemType: GgufType.ARRAY, items: [{ itemType: GgufType.STRING, items: ["a", "ß"] }] });
  });
});

describe.skipIf(!fixturesPresent())("GGUF reader on llama.cpp's files", () => {
  const files = [...listFixtures("vocab", ".gguf").map((f) => fixture("vocab", f)), ...listFixtures("models", ".gguf").map((f) => fixture("models", f))];

  it.each(files)("%s: header, tensor table and a re-encoded copy", (file) => {
    const g = readGguf(file);
    expect(g.version).toBe(3);
    expect(metaString(g, "general.architecture")).toBeTruthy();
    let end = 0;
    for (const t of g.tensors) {
      expect(t.fileOffset % g.alignment).toBe(0);
      end = Math.max(end, t.fileOffset + t.nBytes);
    }
    expect(end).toBeLessThanOrEqual(g.fileSize);
    // Re-encoding what we read (metadata, and each tensor's raw bytes) gives back the same file.
    if (g.fileSize < 4_000_000) {
      const copy = encodeGguf({
        version: 3,
        metadata: [...g.metadata.values()],
        tensors: g.tensors.map((t) => ({ name: t.name, dims: t.dims, type: t.type, raw: readTensorBytes(file, t) })),
      });
      expect(Buffer.from(copy).equals(fs.readFileSync(file))).toBe(true);
    }
  });

  it("knows stories260K's tensors", () => {
    const g = readGguf(fixture("models", "stories260K-q4_0.gguf"));
    const byName = new Map(g.tensors.map((t) => [t.name, t]));
    expect(byName.get("blk.0.attn_q.weight")).toMatchObject({ dims: [64, 64], nBytes: (64 * 64 / 32) * 18 });
    expect(byName.get("blk.0.attn_q.weight")!.type.name).toBe("q4_0");
    expect(byName.get("blk.0.ffn_down.weight")!.type.name).toBe("f32"); // 172 is not a multiple of 32
    expect(metaNumber(g, "llama.embedding_length")).toBe(64);
  });
});
