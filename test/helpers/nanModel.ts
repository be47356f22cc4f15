// The bundled model with one NaN weight: it loads, and every logit comes out NaN (`inspect --check` finds it).
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { readGguf, readTensorFloats, writeGgufFile } from "@cpu-llm/engine";
import { DEMO_MODEL } from "./fixtures.js";

/** Writes the file into a new temporary directory; returns its path (remove the directory when done). */
export function writeNanModel(tensor = "blk.2.ffn_up.weight", element = 77): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cpu-llm-nan-"));
  const file = path.join(dir, "nan.gguf");
  const g = readGguf(DEMO_MODEL);
  writeGgufFile(file, {
    metadata: [...g.metadata.values()],
    tensors: g.tensors.map((t) => {
      const data = readTensorFloats(g, t.name);
      if (t.name === tensor) data[element] = NaN;
      return { name: t.name, dims: t.dims, type: t.type, data };
    }),
  });
  return file;
}
