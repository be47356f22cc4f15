/** A vocabulary this engine cannot build a tokenizer for, or a request it cannot satisfy. */
export class TokenizerError extends Error {
  override readonly name = "TokenizerError";
}
