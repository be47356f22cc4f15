/** A prompt plus the tokens asked for does not fit a sequence's context: raised before any compute. */
export class ContextOverflowError extends Error {
  override readonly name = "ContextOverflowError";
  constructor(
    /** Tokens in the cache (or in the prompt) before the new ones. */
    readonly promptTokens: number,
    readonly maxTokens: number,
    readonly contextSize: number,
    /** The sequence whose cells would overflow, when it is one of a context's. */
    readonly sequence?: number,
  ) {
    const which = sequence === undefined ? "" : ` of sequence ${sequence}`;
    super(`prompt of ${promptTokens} tokens + ${maxTokens} to generate exceeds the context of ${contextSize} tokens${which}`);
  }
}

/** The model and its KV cache would not fit in memory: raised before anything is read. */
export class InsufficientMemoryError extends Error {
  override readonly name = "InsufficientMemoryError";
  constructor(
    readonly neededBytes: number,
    readonly freeBytes: number,
    what = "the model",
  ) {
    const gib = (n: number) => `${(n / 2 ** 30).toFixed(2)} GiB`;
    super(`${what} needs ${gib(neededBytes)} (weights, KV cache and scratch) but only ${gib(freeBytes)} is free; try a smaller contextSize`);
  }
}

/** A model whose architecture this engine does not implement (yet). */
export class UnsupportedArchitectureError extends Error {
  override readonly name = "UnsupportedArchitectureError";
}

/** Every sequence of a context is in use: dispose of one, or create the context with more. */
export class NoFreeSequenceError extends Error {
  override readonly name = "NoFreeSequenceError";
  constructor(readonly sequences: number) {
    super(`all ${sequences} sequences of this context are in use: dispose of one, or create the context with more sequences`);
  }
}

/** A sequence runs one thing at a time: a second call while a completion (or prefill, …) runs on it. */
export class SequenceBusyError extends Error {
  override readonly name = "SequenceBusyError";
  constructor(
    readonly sequence: number,
    readonly running: string,
    readonly attempted: string,
  ) {
    super(`sequence ${sequence} is already running ${running}: ${attempted} must wait for it to finish (or abort it); use another sequence to run both at once`);
  }
}

/** A sequence or context used after dispose() (or after its model closed). */
export class DisposedError extends Error {
  override readonly name = "DisposedError";
  constructor(what: string) {
    super(`${what} was disposed: get a new one`);
  }
}

/** A model file whose keys or tensors do not make the model its architecture says: names the key or tensor. */
export class ModelFormatError extends Error {
  override readonly name = "ModelFormatError";
  constructor(
    readonly path: string,
    /** The GGUF key or tensor name at fault, spelled as in the file. */
    readonly item: string,
    readonly reason: string,
  ) {
    super(`${path}: '${item}' ${reason}`);
  }
}

/** A conversation chat() cannot render: no messages, or a message whose role or content is not one it knows. */
/** A chat template (the file's, or LoadOptions.chatTemplate) that is not valid Jinja: raised at load. */
export class ChatTemplateError extends SyntaxError {
  override readonly name = "ChatTemplateError";
}

export class ChatMessagesError extends TypeError {
  override readonly name = "ChatMessagesError";
}

/**
 * The model computed a NaN or infinite logit for the token it was about to emit: its weights (or the input's
 * scale) hold non-finite values, and every later token would be garbage. Raised instead of emitting it.
 */
export class NonFiniteLogitsError extends Error {
  override readonly name = "NonFiniteLogitsError";
  constructor(
    /** The value of the chosen token's logit (NaN, Infinity or -Infinity). */
    readonly value: number,
    /** Tokens generated before this step (0: the first). */
    readonly step: number,
    readonly sequence?: number,
  ) {
    const which = sequence === undefined ? "" : ` of sequence ${sequence}`;
    super(`the model computed ${value} logits at generation step ${step}${which}: its weights hold non-finite values (find them with 'cpu-llm inspect MODEL --check')`);
  }
}
