import { readFileInto, rowBytes, toFloatOf } from "@cpu-llm/kernels";
import type { GgufTensorInfo } from "../../gguf/readGguf.js";

/** Rows of the token embedding (any supported type), read from the file as needed: no copy of the whole table. */
export class TokenEmbedding {
  private readonly rowBytes: number;

  constructor(
    private readonly path: string,
    private readonly t: GgufTensorInfo,
  ) {
    this.rowBytes = rowBytes(t.type, t.dims[0]);
  }

  /** Writes token's row (nEmbd floats) to out. */
  row(token: number, out: Float32Array): void {
    const t = this.t;
    if (!Number.isInteger(token) || token < 0 || token >= (t.dims[1] ?? 0)) throw new RangeError(`token id ${token} is out of range`);
    const raw = new Uint8Array(this.rowBytes);
    readFileInto(this.path, raw, t.fileOffset + token * this.rowBytes);
    toFloatOf(t.type, t.name)(out, 0, raw, 0, t.dims[0]);
  }
}
