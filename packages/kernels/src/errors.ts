/** A tensor whose ggml type this engine can list but not compute with (e.g. IQ4_XS today). */
export class UnsupportedTensorTypeError extends Error {
  override readonly name = "UnsupportedTensorTypeError";
  constructor(
    readonly tensorName: string,
    readonly typeName: string,
    readonly supported: readonly string[],
  ) {
    super(
      `tensor '${tensorName}' has type ${typeName}, which cpu-llm cannot compute with yet ` +
        `(supported: ${supported.join(", ")}; re-quantize the model to one of them, e.g. llama-quantize --allow-requantize IN OUT Q4_0)`,
    );
  }
}
