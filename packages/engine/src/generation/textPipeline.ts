// What happens to generated text after detokenizing, as a chain of stages: stop strings (on the raw text), then
// the reasoning split (think block apart from the answer), later tool-call recognition. Each stage passes on what
// can go out now and holds back what might still change (the start of a stop string or of a tag).
import { firstStop, heldBack } from "./stopStrings.js";
import { ReasoningSplit } from "./reasoningSplit.js";

export interface TextPiece {
  /** Answer text (all of it when nothing splits reasoning off). */
  text: string;
  /** Text inside a think block. */
  reasoning: string;
}

export interface TextStage {
  push(piece: TextPiece): TextPiece;
  /** The end of the output: whatever was held back. */
  flush(): TextPiece;
  /** This stage ended the output (a stop string): the tokens after it are not emitted. */
  readonly stopped?: boolean;
}

const EMPTY: TextPiece = { text: "", reasoning: "" };
const join = (a: TextPiece, b: TextPiece): TextPiece => ({ text: a.text + b.text, reasoning: a.reasoning + b.reasoning });

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

/** Stages in order; keeps the totals of what went out. */
export class TextPipeline {
  /** Everything emitted so far. */
  readonly total: TextPiece = { text: "", reasoning: "" };

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
    return piece;
  }
}
