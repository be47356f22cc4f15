/** A prompt plus the tokens asked for does not fit the context: raised before any compute. */
export class ContextOverflowError extends Error {
  override readonly name = "ContextOverflowError";
  constructor(
    readonly promptTokens: number,
    readonly maxTokens: number,
    readonly contextSize: number,
  ) {
    super(`prompt of ${promptTokens} tokens + ${maxTokens} to generate exceeds the context of ${contextSize} tokens`);
  }
}

/** The model and its KV cache would not fit in memory: raised before anything is read. */
export class InsufficientMemoryError extends Error {
  override readonly name = "InsufficientMemoryError";
  constructor(
    readonly neededBytes: number,
    readonly freeBytes: number,
  ) {
    const gib = (n: number) => `${(n / 2 ** 30).toFixed(2)} GiB`;
    super(`the model needs ${gib(neededBytes)} (weights, KV cache and scratch) but only ${gib(freeBytes)} is free; try a smaller contextSize`);
  }
}

/** A model whose architecture this engine does not implement (yet). */
export class UnsupportedArchitectureError extends Error {
  override readonly name = "UnsupportedArchitectureError";
}
