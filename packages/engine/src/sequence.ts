// One conversation's place in a context: its own run of KV cells, the tokens in them, and generation over them
// (sampling, stop strings, log-probabilities). Its tokens go through the context's scheduler, batched with the
// other sequences' at every step; what it computes is bit for bit what it would compute alone.
import { randomUUID } from "node:crypto";
import { checkChatMessages, type ChatMessage, type ChatTemplate, type ToolCall, type ToolDefinition } from "./chat/chatTemplate.js";
import type { ToolChoice } from "./chat/toolCallFormat.js";
import { afterThinking, planToolUse, type ToolUse } from "./chat/toolUse.js";
import { checkOptions } from "./options.js";
import { ChatMessagesError, ContextOverflowError, SequenceBusyError, DisposedError, NonFiniteLogitsError } from "./errors.js";
import { logprobsOf } from "./generation/logprobs.js";
import { opensThinkBlock } from "./generation/reasoningSplit.js";
import { Reasoning, StopStrings, TextPipeline, ToolCalls, type TextPiece } from "./generation/textPipeline.js";
import type { Scheduler } from "./runtime/scheduler.js";
import { parseGbnf, type Grammar } from "./grammar/gbnf.js";
import { GrammarDeadEndError } from "./grammar/grammarErrors.js";
import { jsonSchemaToGbnf } from "./grammar/jsonSchema.js";
import { GrammarStage, LazyGrammarStage } from "./sampling/grammarStage.js";
import { createSampler, type SamplingOptions } from "./sampling/sampler.js";
import type { Tokenizer } from "./tokenizer/tokenizer.js";

export interface CompletionOptions extends SamplingOptions {
  /** Also report each token's log-probability and the top N alternatives (from the raw logits). Default 0: off. */
  logprobs?: number;
  /** Most tokens to generate. Default 256. */
  maxTokens?: number;
  /** Strings that end the completion; they are not emitted. */
  stop?: readonly string[];
  /** Add BOS as the vocabulary says. Default true. */
  addSpecial?: boolean;
  /** Parse special-token text in the prompt (`<|im_start|>`). Default false. */
  parseSpecial?: boolean;
  /**
   * "deepseek": text inside `<think>…</think>` comes apart from the answer (chunks' `reasoning`, the result's
   * `reasoning`; `text` is then the answer), as llama-server's --reasoning-format deepseek. "none": raw text.
   * Default: "deepseek" for a chat whose template opens a think block (DeepSeek-R1 and its distills), else "none".
   */
  reasoningFormat?: "deepseek" | "none";
  /**
   * A GBNF grammar (llama.cpp's notation; start rule `root`) the output must match: only tokens that keep it
   * matchable are sampled, and the end only where it is complete. Exclusive with jsonSchema.
   */
  grammar?: string;
  /** A JSON schema the output must be an instance of (compiled to a grammar; see jsonSchemaToGbnf). */
  jsonSchema?: unknown;
  /**
   * chat(): functions the model may call, rendered through the template's own tools section (or described in
   * the system message when it has none). Calls come back in the result's and the last chunk's `toolCalls`.
   */
  tools?: readonly ToolDefinition[];
  /**
   * chat(): "auto" (the default with tools: the model may answer or call; a call, once begun, is kept to its
   * format by a grammar), "none" (no call), "required" (a call is forced by the grammar), or {name} (that tool).
   */
  toolChoice?: ToolChoice;
  /** chat(): more than one call in an answer. Default false (llama-server's default). */
  parallelToolCalls?: boolean;
  signal?: AbortSignal;
}

export interface CompletionChunk {
  /** Text completed by this token (can be empty while a UTF-8 character is incomplete, or held back). */
  text: string;
  /** With reasoningFormat "deepseek": the part of this token's text inside the think block (`text` is the answer's). */
  reasoning?: string;
  tokenId: number;
  /** log p(token) under the model's raw distribution, when `logprobs` was asked for. */
  logprob?: number;
  /** The `logprobs` most likely tokens at this step, with their logits and log-probabilities. */
  top?: { tokenId: number; logit: number; logprob: number }[];
  /** Tool calls, complete, once the answer has ended (the last chunk); `index` counts the answer's calls. */
  toolCalls?: (ToolCall & { index: number })[];
}

export interface CompletionResult {
  /** The generated text (with reasoningFormat "deepseek", the answer alone). */
  text: string;
  /** With reasoningFormat "deepseek": the text inside the think block. */
  reasoning?: string;
  /** "toolCalls": the answer ended with calls of the request's tools (in `toolCalls`). */
  finishReason: "stop" | "length" | "abort" | "toolCalls";
  toolCalls?: ToolCall[];
  promptTokens: number;
  /** Prompt tokens found in the cache already (not recomputed). */
  cachedTokens: number;
  promptMs: number;
  generatedTokens: number;
  generationMs: number;
  tokensPerSecond: number;
}

/** What a sequence needs from its context. */
export interface SequenceHost {
  readonly tokenizer: Tokenizer;
  readonly chatTemplate: ChatTemplate;
  readonly contextSize: number;
  readonly scheduler: Scheduler;
  copyCells(from: number, to: number, length: number): void;
  release(sequence: Sequence): void;
}

export class Sequence {
  /**
   * A completion generator dropped without return() never runs its `finally`: when the collector takes it,
   * this gives its sequence back (the cells hold exactly its tokens so far, so nothing is left half-done).
   */
  private static readonly dropped = new FinalizationRegistry<{ readonly sequence: Sequence; readonly lease: object }>(({ sequence, lease }) => {
    if (sequence.lease === lease) sequence.release();
  });

  /** Tokens in this sequence's cells: positions [0, history.length). */
  private history: number[] = [];
  /** What is running on this sequence (a completion, a prefill, …), if anything, and which call holds it. */
  private holder: string | undefined;
  private lease: object | undefined;
  private disposed = false;

  /** @internal Sequences come from Context.getSequence(). */
  constructor(
    private readonly host: SequenceHost,
    /** The sequence's index in its context (its run of cells). */
    readonly id: number,
  ) {}

  /** Cells this sequence can fill. */
  get contextSize(): number {
    return this.host.contextSize;
  }

  /** Tokens in the cache: a completion whose prompt starts with them computes only the rest. */
  get tokens(): readonly number[] {
    return this.history.slice();
  }

  /**
   * Streams the assistant's reply to a conversation, rendered with the chat template. Special-token text in the
   * template is parsed; the cached prefix of the previous turn is reused, so each turn processes only new tokens.
   */
  chat(messages: readonly ChatMessage[], options: CompletionOptions = {}): AsyncGenerator<CompletionChunk, CompletionResult> {
    const input = chatInput(this.host.chatTemplate, this.host.tokenizer, messages, options);
    return this.start(input.prompt, input.options, input.toolUse);
  }

  /** The tokens `complete(prompt, options)` would run (BOS and special text as the options say). */
  promptTokens(prompt: string, options: Pick<CompletionOptions, "addSpecial" | "parseSpecial"> = {}): number[] {
    return this.host.tokenizer.encode(prompt, { addSpecial: options.addSpecial ?? true, parseSpecial: options.parseSpecial ?? false });
  }

  /**
   * Streams a completion of `prompt`. The cache keeps the longest common prefix with what this sequence last
   * ran, so a follow-up that extends the conversation only processes its new tokens.
   */
  complete(prompt: string, options: CompletionOptions = {}): AsyncGenerator<CompletionChunk, CompletionResult> {
    if (options.tools !== undefined) throw new TypeError("tools are for chat(): a plain completion has no template to describe them");
    return this.start(prompt, options);
  }

  private start(prompt: string, options: CompletionOptions, toolUse?: ToolUse): AsyncGenerator<CompletionChunk, CompletionResult> {
    const lease = {};
    const completion = this.completion(lease, prompt, options, toolUse);
    Sequence.dropped.register(completion, { sequence: this, lease });
    return completion;
  }

  private async *completion(lease: object, prompt: string, options: CompletionOptions, toolUse: ToolUse | undefined): AsyncGenerator<CompletionChunk, CompletionResult> {
    this.acquire("a completion", lease);
    try {
      return yield* this.generate(prompt, options, toolUse);
    } finally {
      if (this.lease === lease) this.release();
    }
  }

  /** Runs `ids` from position 0 (prompt processing, in batches) and returns the last position's logits. */
  async prefill(ids: readonly number[]): Promise<Float32Array> {
    return (await this.run("prefill", ids, { fromStart: true }))[0];
  }

  /** Runs one token at the next position (decode) and returns its logits. */
  async step(id: number): Promise<Float32Array> {
    return (await this.run("step", [id], {}))[0];
  }

  /** Runs tokens at the next positions, after those in the cache, and returns the last one's logits. */
  async append(ids: readonly number[]): Promise<Float32Array> {
    return (await this.run("append", ids, {}))[0];
  }

  /** Logits after each of `ids`, fed from position 0 (teacher forcing); one copy per position. */
  logits(ids: readonly number[]): Promise<Float32Array[]> {
    return this.run("logits", ids, { fromStart: true, allLogits: true });
  }

  /** Forgets the cached tokens (the next call starts at position 0). */
  reset(): void {
    this.acquire("reset");
    this.history = [];
    this.release();
  }

  /**
   * Starts this sequence from the first `length` cached tokens of another (a shared system prompt): their keys
   * and values are copied, not recomputed. A completion whose prompt begins with them then reads only the rest.
   */
  copyFrom(other: Sequence, length = other.history.length): void {
    if (other.host !== this.host) throw new RangeError("a sequence can copy only from a sequence of the same context");
    if (!Number.isInteger(length) || length < 0 || length > other.history.length) {
      throw new RangeError(`sequence ${other.id} has ${other.history.length} cached tokens; cannot copy ${length}`);
    }
    this.acquire("copyFrom");
    try {
      this.host.copyCells(other.id, this.id, length);
      this.history = other.history.slice(0, length);
    } finally {
      this.release();
    }
  }

  /** Gives the sequence back to its context: a running completion ends with finishReason "abort". */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.host.scheduler.cancel(this.id);
    this.history = [];
    this.host.release(this);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  private acquire(what: string, lease: object = {}): void {
    if (this.disposed) throw new DisposedError(`sequence ${this.id}`);
    if (this.holder) throw new SequenceBusyError(this.id, this.holder, what);
    this.holder = what;
    this.lease = lease;
  }

  private release(): void {
    this.holder = undefined;
    this.lease = undefined;
  }

  /** One call that runs tokens (prefill, step, …), holding the sequence meanwhile; DisposedError if disposed first. */
  private async run(what: string, ids: readonly number[], options: { fromStart?: boolean; allLogits?: boolean }): Promise<Float32Array[]> {
    this.acquire(what);
    try {
      if (options.fromStart) this.history = [];
      const rows = await this.eval(ids, options);
      if (!rows) throw new DisposedError(`sequence ${this.id}`);
      return rows;
    } finally {
      this.release();
    }
  }

  /** Runs tokens at the next positions through the scheduler; undefined when aborted first. */
  private eval(tokens: readonly number[], options: { allLogits?: boolean; signal?: AbortSignal }): Promise<Float32Array[] | undefined> {
    if (tokens.length === 0) throw new RangeError("nothing to run: no tokens");
    // Checked here, not in the forward pass: a bad id must fail its own call, not the batch it would share.
    const size = this.host.tokenizer.size;
    const bad = tokens.find((t) => !(Number.isInteger(t) && t >= 0 && t < size));
    if (bad !== undefined) throw new RangeError(`token id ${bad} is not in the vocabulary (0 to ${size - 1})`);
    if (this.history.length + tokens.length > this.contextSize) {
      throw new ContextOverflowError(this.history.length, tokens.length, this.contextSize, this.id);
    }
    if (options.signal?.aborted || this.disposed) return Promise.resolve(undefined);
    return this.host.scheduler.eval(this.id, this.history.length, tokens, { ...options, onProgress: (t) => this.history.push(...t) });
  }

  private async *generate(prompt: string, options: CompletionOptions, toolUse?: ToolUse): AsyncGenerator<CompletionChunk, CompletionResult> {
    const { tokenizer } = this.host;
    checkOptions(options);
    const maxTokens = options.maxTokens ?? 256;
    const ids = this.promptTokens(prompt, options);
    if (ids.length === 0) throw new RangeError("the prompt has no tokens (and the model adds no BOS)");
    if (ids.length + maxTokens > this.contextSize) throw new ContextOverflowError(ids.length, maxTokens, this.contextSize, this.id);
    for (const id of Object.keys(options.logitBias ?? {})) {
      if (!(Number(id) < tokenizer.size)) throw new RangeError(`logit_bias names token id ${id}, which is not in the vocabulary (0 to ${tokenizer.size - 1})`);
    }
    const grammar = grammarOf(options);
    const constraint = grammar ? new GrammarStage(grammar, tokenizer) : toolUse?.lazy && new LazyGrammarStage(grammarOf({ grammar: toolUse.lazy.grammar })!, tokenizer, toolUse.lazy.trigger, toolUse.lazy.anchored);
    const sampler = createSampler(options, constraint);
    const signal = options.signal;

    // Reuse the cached prefix; the last prompt token is always run again to get its logits.
    let reuse = 0;
    while (reuse < this.history.length && reuse < ids.length - 1 && this.history[reuse] === ids[reuse]) reuse++;
    this.history.length = reuse;
    const timing = { promptTokens: ids.length, cachedTokens: reuse, promptStart: performance.now(), genStart: 0 };
    let logits = (await this.eval(ids.slice(reuse), { signal }))?.[0];
    timing.genStart = performance.now();
    if (!logits) return finish("", "abort", timing, 0);
    sampler.acceptPrompt(ids);

    const decoder = tokenizer.streamDecoder();
    // Stop strings see the raw text; the think block comes apart from the answer after them, when asked.
    const split = options.reasoningFormat === "deepseek";
    const pipeline = new TextPipeline([
      new StopStrings(options.stop ?? []), ...(split ? [new Reasoning(opensThinkBlock(prompt))] : []), ...(toolUse ? [new ToolCalls(toolUse.format)] : []),
    ]);
    const chunk = (p: TextPiece): Pick<CompletionChunk, "text" | "reasoning"> => (split ? p : { text: p.text });
    let generated = 0;
    let reason: CompletionResult["finishReason"] = "length";
    while (generated < maxTokens) {
      if (signal?.aborted) {
        reason = "abort";
        break;
      }
      const token = sampler.sample(logits);
      if (token < 0) throw new GrammarDeadEndError(generated, this.id);
      // One comparison per step: with NaN weights every logit is NaN and the sampler's pick (token 0) with it.
      if (!Number.isFinite(logits[token])) throw new NonFiniteLogitsError(logits[token], generated, this.id);
      if (tokenizer.isEog(token)) {
        reason = "stop";
        break;
      }
      sampler.accept(token);
      generated++;
      const extra = options.logprobs ? logprobsOf(logits, token, options.logprobs) : {};
      const piece = pipeline.push(decoder.push(token));
      if (pipeline.stopped) {
        if (piece.text || piece.reasoning) yield { ...chunk(piece), tokenId: token, ...extra };
        reason = "stop";
        break; // the token never went through the model: the cache (and history) end before it
      }
      yield { ...chunk(piece), tokenId: token, ...extra };
      if (generated === maxTokens) break; // its logits would go unused
      if (constraint?.complete) {
        reason = "stop"; // the grammar allows nothing but the end: no forward pass to sample it
        break;
      }
      const next = (await this.eval([token], { signal }))?.[0];
      if (!next) {
        reason = "abort";
        break;
      }
      logits = next;
    }
    // Whatever was held back (an incomplete character, the start of a stop string or a tag) goes out now.
    const rest = pipeline.end(decoder.flush());
    const toolCalls = pipeline.total.calls.map((c): ToolCall => ({ id: `call_${randomUUID().replaceAll("-", "").slice(0, 24)}`, type: "function", function: c }));
    if (rest.text || rest.reasoning || toolCalls.length) {
      yield { ...chunk(rest), tokenId: -1, ...(toolCalls.length ? { toolCalls: toolCalls.map((c, index) => ({ ...c, index })) } : {}) };
    }
    const result = finish(pipeline.total.text, toolCalls.length && reason !== "abort" ? "toolCalls" : reason, timing, generated);
    return { ...result, ...(split ? { reasoning: pipeline.total.reasoning } : {}), ...(toolCalls.length ? { toolCalls } : {}) };
  }
}

/**
 * The grammar the options ask for, parsed (GrammarError, JsonSchemaError before any compute), if any. Recent
 * grammars are kept by their text: requests with the same schema share one matcher and its masks.
 */
function grammarOf(options: CompletionOptions): Grammar | undefined {
  if (options.grammar !== undefined && options.jsonSchema !== undefined) throw new TypeError("grammar and jsonSchema cannot both be set: a jsonSchema is compiled to a grammar");
  if (options.grammar !== undefined && typeof options.grammar !== "string") throw new TypeError("grammar must be GBNF text");
  const gbnf = options.grammar ?? (options.jsonSchema === undefined ? undefined : jsonSchemaToGbnf(options.jsonSchema));
  if (gbnf === undefined) return undefined;
  let grammar = recentGrammars.get(gbnf);
  if (grammar) recentGrammars.delete(gbnf);
  else grammar = parseGbnf(gbnf);
  recentGrammars.set(gbnf, grammar);
  if (recentGrammars.size > GRAMMARS_KEPT) recentGrammars.delete(recentGrammars.keys().next().value!);
  return grammar;
}
const recentGrammars = new Map<string, Grammar>();
const GRAMMARS_KEPT = 16;

/**
 * A conversation as a completion: the prompt the chat template renders (with the generation prompt), special
 * text parsed, and BOS added only when the template does not write it itself (it must not come twice).
 */
export function chatInput<O extends CompletionOptions>(
  template: ChatTemplate, tokenizer: Tokenizer, messages: readonly ChatMessage[], options: O,
): { prompt: string; options: O; toolUse?: ToolUse } {
  checkChatMessages(messages);
  const toolUse = options.tools === undefined ? undefined : planToolUse(template, messages, options.tools, options.toolChoice ?? "auto", options.parallelToolCalls ?? false);
  if (toolUse && (toolUse.grammar || toolUse.lazy) && (options.grammar !== undefined || options.jsonSchema !== undefined)) {
    throw new ChatMessagesError("tools with a call grammar cannot be combined with grammar or jsonSchema: give one");
  }
  const prompt = template.render(toolUse?.messages ?? messages, true, { tools: options.tools });
  const vocab = tokenizer.vocab;
  const bos = vocab.bos >= 0 ? vocab.tokens[vocab.bos] : "";
  const reasoningFormat = options.reasoningFormat ?? (opensThinkBlock(prompt) ? "deepseek" : "none");
  // A forced call after a think block the prompt opened: the grammar lets the block close first.
  const grammar = toolUse?.grammar && (opensThinkBlock(prompt) && toolUse.format.style !== "generic" ? afterThinking(toolUse.grammar) : toolUse.grammar);
  return {
    prompt, toolUse,
    options: { ...options, parseSpecial: true, addSpecial: options.addSpecial ?? !(bos && prompt.startsWith(bos)), reasoningFormat, ...(grammar ? { grammar } : {}) },
  };
}

function finish(
  text: string, finishReason: CompletionResult["finishReason"], t: { promptTokens: number; cachedTokens: number; promptStart: number; genStart: number }, generated: number,
): CompletionResult {
  const generationMs = performance.now() - t.genStart;
  return {
    text, finishReason, promptTokens: t.promptTokens, cachedTokens: t.cachedTokens, promptMs: t.genStart - t.promptStart, generatedTokens: generated,
    generationMs, tokensPerSecond: generationMs > 0 ? (generated * 1000) / generationMs : 0,
  };
}
