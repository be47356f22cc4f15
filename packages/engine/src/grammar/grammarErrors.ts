// Errors of grammars and JSON schemas: raised before any compute, naming the place in the grammar or schema.

/** A GBNF grammar that does not parse or cannot be matched; the message names line and column. */
export class GrammarError extends SyntaxError {
  override readonly name = "GrammarError";
  readonly line: number;
  readonly column: number;
  constructor(
    readonly reason: string,
    source: string,
    /** Offset in the grammar text. */
    readonly offset: number,
  ) {
    const before = source.slice(0, offset);
    const line = before.split("\n").length;
    const column = offset - before.lastIndexOf("\n");
    super(`grammar error at line ${line}, column ${column}: ${reason}`);
    this.line = line;
    this.column = column;
  }
}

/** A JSON schema the grammar compiler cannot express exactly: names the keyword and its JSON pointer. */
export class JsonSchemaError extends TypeError {
  override readonly name = "JsonSchemaError";
  constructor(
    readonly reason: string,
    /** JSON pointer of the offending part of the schema ("" is the root). */
    readonly pointer: string,
  ) {
    super(`JSON schema at '${pointer || "/"}': ${reason}`);
  }
}

/** No token of the vocabulary can continue the grammar from here (it needs a character no token spells). */
export class GrammarDeadEndError extends Error {
  override readonly name = "GrammarDeadEndError";
  constructor(readonly generated: number, readonly sequence?: number) {
    super(`no token of the vocabulary continues the grammar after ${generated} generated tokens${sequence === undefined ? "" : ` of sequence ${sequence}`}: the grammar needs text the model cannot write`);
  }
}
