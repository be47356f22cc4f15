// What happens to generated text after detokenizing, as a chain of stages: stop strings (on the raw text), then
// the reasoning split (think block apart from the answer), then tool-call recognition. Each stage passes on what
// can go out now and holds back what might still change (the start of a stop string, of a tag, of a call).
import type { ParsedCall, ToolCallFormat } from "../chat/toolCallFormat.js";
import { firstStop, heldBack } from "./stopStrings.js";
import { ReasoningSplit } from "./reasoningSplit.js";

export interface TextPiece {
  /** Answer text (all of it when nothing splits reasoning off). */
  text: string;
  /** Text inside a think block. */
  reasoning: string;
  /** Tool calls recognised in the answer (at its end). */
  calls?: readonly ParsedCall[];
}

export interface TextStage {
  push(piece: TextPiece): TextPiece;
  /** The end of the output: whatever was held back. */
  flush(): TextPiece;
  /** This stage ended the output (a stop string): the tokens after it are not emitted. */
  readonly stopped?: boolean;
}

const EMPTY: TextPiece = { text: "", reasoning: "" };
const join = (a: TextPiece, b: TextPiece): TextPiece => {
  const calls = [...(a.calls ?? []), ...(b.calls ?? [])];
  return { text: a.text + b.text, reasoning: a.reasoning + b.reasoning, ...(calls.length ? { calls } : {}) };
};

/** Ends the output where the first stop string begins (not emitted); holds back text that may begin one. */
export class StopStrings implements TextStage {
  private text = "";
  private emitted = 0;
  stopped = false;

  constructor(private readonly stops: readonly string[]) {}

  push(piece: TextPiece): TextPiece {
    if (this.stopped) return EMPTY;
    this.text += piece.text;
    const at = firstStop(this.text, this.stops);
    if (at >= 0) this.stopped = true;
    const end = at >= 0 ? at : this.text.length - heldBack(this.text, this.stops);
    return { text: this.take(end), reasoning: piece.reasoning };
  }

  flush(): TextPiece {
    return { text: this.stopped ? "" : this.take(this.text.length), reasoning: "" };
  }

  private take(end: number): string {
    const out = end > this.emitted ? this.text.slice(this.emitted, end) : "";
    this.emitted = Math.max(this.emitted, end);
    return out;
  }
}

/** The think block's text into `reasoning`, the answer into `text` (reasoningSplit.ts). */
export class Reasoning implements TextStage {
  private readonly split: ReasoningSplit;

  constructor(opened: boolean) {
    this.split = new ReasoningSplit(opened);
  }

  push(piece: TextPiece): TextPiece {
    const p = this.split.push(piece.text);
    return { text: p.content, reasoning: piece.reasoning + p.reasoning };
  }

  flush(): TextPiece {
    const p = this.split.flush();
    return { text: p.content, reasoning: p.reasoning };
  }
}

/**
 * Tool calls in the answer, in the syntax of the template's format: the answer's text from where a call may
 * begin (the trigger; for formats without one, an answer that opens with "{", or all of the generic envelope)
 * is held back, and the end parses it into content and calls (an output that is no call goes out as content).
 */
export class ToolCalls implements TextStage {
  private text = "";
  private emitted = 0;

  constructor(private readonly format: ToolCallFormat) {}

  push(piece: TextPiece): TextPiece {
    this.text += piece.text;
    return { text: this.take(this.contentEnd()), reasoning: piece.reasoning };
  }

  flush(): TextPiece {
    const { content, calls } = this.format.parse(this.text);
    if (calls.length === 0) return { text: this.take(this.text.length), reasoning: "" };
    // The content is the answer before the calls: what of it was not emitted yet goes out now.
    const rest = content.length > this.emitted ? content.slice(this.emitted) : "";
    this.emitted = this.text.length;
    return { text: rest, reasoning: "", calls };
  }

  /** How much of the text is content for sure. */
  private contentEnd(): number {
    const trigger = this.format.trigger;
    if (trigger) {
      const at = this.text.indexOf(trigger);
      return at >= 0 ? at : this.text.length - heldBack(this.text, [trigger]);
    }
    if (this.format.style === "generic") return 0; // the envelope is parsed whole
    const lead = this.text.trimStart(); // llama3-json: an answer that opens with "{" may be one call
    return lead === "" || lead.startsWith("{") ? this.emitted : this.text.length;
  }

  private take(end: number): string {
    const out = end > this.emitted ? this.text.slice(this.emitted, end) : "";
    this.emitted = Math.max(this.emitted, end);
    return out;
  }
}

/** Stages in order; keeps the totals of what went out. */
export class TextPipeline {
  /** Everything emitted so far. */
  readonly total: { text: string; reasoning: string; calls: ParsedCall[] } = { text: "", reasoning: "", calls: [] };

  constructor(private readonly stages: readonly TextStage[]) {}

  /** A stage ended the output. */
  get stopped(): boolean {
    return this.stages.some((s) => s.stopped);
  }

  /** The next decoded text through every stage: what can go out now. */
  push(raw: string): TextPiece {
    let piece: TextPiece = { text: raw, reasoning: "" };
    for (const stage of this.stages) piece = stage.push(piece);
    return this.emit(piece);
  }

  /**
   * The end of the output: the decoder's last text (an incomplete character's replacement), then each stage's
   * held-back text passed through the stages after it. After a stop, nothing past the stop goes out.
   */
  end(raw: string): TextPiece {
    let piece: TextPiece = { text: raw, reasoning: "" };
    for (const stage of this.stages) piece = join(stage.push(piece), stage.flush());
    return this.emit(piece);
  }

  private emit(piece: TextPiece): TextPiece {
    this.total.text += piece.text;
    this.total.reasoning += piece.reasoning;
    if (piece.calls) this.total.calls.push(...piece.calls);
    return piece;
  }
}
