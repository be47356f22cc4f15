// Copies of fixture models changed in one respect, for the tests of what a load refuses and why.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ggmlTypeByName, rowBytes } from "@cpu-llm/kernels";
import { readGguf, readTensorBytes, readTensorFloats, writeGgufFile, type GgufKv, type GgufTensorSpec } from "@cpu-llm/engine";
import { fixture } from "./fixtures.js";

export interface Alteration {
  readonly drop?: (name: string) => boolean;
  readonly set?: GgufKv[];
  readonly add?: GgufTensorSpec[];
  /** Tensors to store as another ggml type (their bytes zero: only the type matters to the test). */
  readonly retype?: Readonly<Record<string, string>>;
  /**
   * Every matrix (2-D or 3-D: expert stacks, MLA's per-head attn_k_b) of an F32 or F16 model quantized to this
   * type by our quantizer, the rule of `llama-quantize --pure` (norms and MoE routers, ffn_gate_inp, keep their
   * type): the file llama-quantize writes, byte for byte, since our quantizers are
   * (quantizeMatchesLlamaCpp.test.ts).
   */
  readonly quantizeTo?: string;
}

/** A copy of a fixture model with some tensors left out, added or retyped, and some metadata replaced. */
export function altered(model: string, change: Alteration): string {
  const source = fixture("models", `${model}.gguf`);
  const file = readGguf(source);
  const keys = new Set((change.set ?? []).map((kv) => kv.key));
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "cpu-llm-altered-")), `${model}-altered.gguf`);
  const retyped = (t: (typeof file.tensors)[number]): GgufTensorSpec => {
    if (change.quantizeTo !== undefined && t.dims.length >= 2 && !t.name.includes("ffn_gate_inp")) {
      const traits = ggmlTypeByName(change.quantizeTo)!;
      const raw = new Uint8Array(rowBytes(traits, t.dims[0]) * (t.nElements / t.dims[0]));
      traits.fromFloat!(raw, 0, readTensorFloats(file, t.name), 0, t.nElements);
      return { name: t.name, dims: t.dims, type: traits, raw };
    }
    const type = change.retype?.[t.name];
    if (type === undefined) return { name: t.name, dims: t.dims, type: t.type, raw: () => readTensorBytes(source, t) };
    const traits = ggmlTypeByName(type)!;
    return { name: t.name, dims: t.dims, type: traits, raw: new Uint8Array(rowBytes(traits, t.dims[0]) * (t.dims.slice(1).reduce((a, b) => a * b, 1))) };
  };
  writeGgufFile(out, {
    metadata: [...[...file.metadata.values()].filter((kv) => !keys.has(kv.key)), ...(change.set ?? [])],
    tensors: [...file.tensors.filter((t) => !change.drop?.(t.name)).map(retyped), ...(change.add ?? [])],
  });
  return out;
}
