// DeepSeek-R1-style reasoning: the model thinks inside <think>…</think>, then answers. llama-server's
// `--reasoning-format deepseek` returns the two apart (reasoning_content and content); this does the same on a
// stream, holding back text that could be the start of a tag until it is known not to be.

const OPEN = "<think>";
const CLOSE = "</think>";

export interface ReasoningPart {
  /** Text inside the think block. */
  readonly reasoning: string;
  /** Text of the answer. */
  readonly content: string;
}

export class ReasoningSplit {
  /**
   * "start": the output may still open a think block; "inside" it; "gap": just after it, where the blank lines
   * before the answer are dropped; "answer": the rest (all of it when no block was opened).
   */
  private state: "start" | "inside" | "gap" | "answer";
  private pending = "";

  /** `opened`: the prompt already opened the block (R1 templates end the generation prompt with `<think>\n`). */
  constructor(opened: boolean) {
    this.state = opened ? "inside" : "start";
  }

  /** Splits the next piece of text; what might begin a tag is held back for the next call. */
  push(text: string): ReasoningPart {
    this.pending += text;
    let reasoning = "";
    let content = "";
    for (;;) {
      if (this.state === "start") {
        const lead = this.pending.trimStart();
        if (lead.startsWith(OPEN)) {
          this.pending = lead.slice(OPEN.length);
          this.state = "inside";
        } else if (OPEN.startsWith(lead)) {
          break; // whitespace, or a prefix of the tag: not decided yet
        } else {
          this.state = "answer";
        }
      } else if (this.state === "inside") {
        const at = this.pending.indexOf(CLOSE);
        if (at < 0) {
          const keep = partialSuffix(this.pending, CLOSE);
          reasoning += this.pending.slice(0, this.pending.length - keep);
          this.pending = this.pending.slice(this.pending.length - keep);
          break;
        }
        reasoning += this.pending.slice(0, at);
        this.pending = this.pending.slice(at + CLOSE.length);
        this.state = "gap";
      } else if (this.state === "gap") {
        this.pending = this.pending.trimStart();
        if (this.pending === "") break;
        this.state = "answer";
      } else {
        content += this.pending;
        this.pending = "";
        break;
      }
    }
    return { reasoning, content };
  }

  /** What is still held back, at the end of the output. */
  flush(): ReasoningPart {
    const rest = this.pending;
    this.pending = "";
    return this.state === "inside" ? { reasoning: rest, content: "" } : { reasoning: "", content: rest };
  }
}

/** Does the prompt end inside an opened think block (the generation prompt of R1-style templates)? */
export function opensThinkBlock(prompt: string): boolean {
  const trimmed = prompt.trimEnd();
  return trimmed.endsWith(OPEN);
}

/** Length of the longest suffix of text that is a proper prefix of tag. */
function partialSuffix(text: string, tag: string): number {
  for (let k = Math.min(tag.length - 1, text.length); k > 0; k--) if (text.endsWith(tag.slice(0, k))) return k;
  return 0;
}
