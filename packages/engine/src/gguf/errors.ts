/** A GGUF file that breaks the format: names the problem and the byte offset where it was found. */
export class GgufFormatError extends Error {
  override readonly name = "GgufFormatError";
  constructor(
    readonly reason: string,
    /** Byte offset in the file where the problem was found. */
    readonly offset: number,
    readonly path?: string,
  ) {
    super(`${path ? `${path}: ` : ""}invalid GGUF at byte ${offset}: ${reason}`);
  }
}
