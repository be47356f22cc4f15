// What an architecture file provides: how it reads its hyper-parameters, which tensors one of its layers
// holds, and that layer's forward pass written from the shared blocks (./blocks). Everything else (the token
// embedding, the output head, buffers, the KV cache) is the same for every architecture (Transformer).
import type { GgufFile } from "../gguf/readGguf.js";
import type { Hparams } from "./hparams.js";
import type { Pass } from "./pass.js";
import type { Weights } from "./weights.js";

export interface Architecture<Layer = unknown, Scratch = unknown> {
  /** The `general.architecture` value it runs. */
  readonly name: string;
  /** Completes or checks the common hyper-parameters (readHparams) for this architecture. */
  hparams?(hp: Hparams, file: GgufFile & { path: string }): Hparams;
  /** Whether the output projection may be the token embedding when the file has no `output.weight`. */
  readonly tiedOutput: boolean;
  /** Layer il's weights. */
  loadLayer(w: Weights, il: number): Layer;
  /** Buffers of its own beyond the pass's (Pass.buf), for maxBatch rows; made once at load. */
  scratch?(w: Weights, maxBatch: number): Scratch;
  /** Layer il's forward pass over the pass's rows: reads and writes p.buf.x, the residual stream. */
  forwardLayer(p: Pass, layer: Layer, il: number, scratch: Scratch): void;
}

/** Type-checks an architecture against its own layer and scratch types, then erases them for the registry. */
export function defineArchitecture<Layer, Scratch = undefined>(a: Architecture<Layer, Scratch>): Architecture {
  return a as unknown as Architecture;
}
