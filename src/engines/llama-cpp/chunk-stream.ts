/**
 * Streaming for the llama-cpp Engine: the generation calls a GenerationSink as tokens are decoded, and
 * ChunkStream turns those calls into the OpenAI chunks a streaming client expects, in the order OpenAI
 * sends them: per choice a first chunk with the assistant role, one chunk per piece of text, a chunk with
 * the finish reason; then, when the body asks for `stream_options.include_usage`, one chunk with no
 * choices and the usage (every earlier chunk then carries `usage: null`, as OpenAI's do).
 *
 * node-llama-cpp's callbacks are synchronous, so chunks wait in a queue until the reader takes them: at
 * most one reply's text (bounded by max_tokens), and nothing once the reader has gone.
 */
import { randomBytes } from "node:crypto";
import type { StreamChunk } from "../../core/engine.ts";
import type { FinishReason } from "./openai-replies.ts";

/** What a running generation tells its stream. */
export interface GenerationSink {
  /** The request holds a sequence and is about to generate: the stream can go to the reader. */
  begin(): void;
  text(choice: number, text: string): void;
  /** `stopSequence`: the stop string that ended the text (sent as vLLM does, `stop_reason`). */
  end(choice: number, finishReason: FinishReason, stopSequence?: string): void;
}

export class ChunkStream implements GenerationSink, AsyncIterable<StreamChunk> {
  readonly begun: Promise<void>;
  private markBegun!: () => void;
  private readonly queue: StreamChunk[] = [];
  private wake: (() => void) | null = null;
  private closed = false;
  private failure: { error: unknown } | null = null;
  private readonly started = new Set<number>();
  private readonly id: string;
  private readonly created = Math.floor(Date.now() / 1000);

  constructor(
    private readonly kind: "chat" | "completion",
    private readonly modelName: string,
    private readonly includeUsage: boolean,
  ) {
    this.begun = new Promise((resolve) => (this.markBegun = resolve));
    this.id = `${kind === "chat" ? "chatcmpl" : "cmpl"}-${randomBytes(15).toString("hex")}`;
  }

  begin(): void {
    this.markBegun();
  }

  text(choice: number, text: string): void {
    if (text.length === 0) return;
    this.opening(choice);
    this.push(this.kind === "chat" ? { index: choice, delta: { content: text }, logprobs: null, finish_reason: null } : { text, index: choice, logprobs: null, finish_reason: null });
  }

  end(choice: number, finishReason: FinishReason, stopSequence?: string): void {
    this.opening(choice);
    const stop = stopSequence === undefined ? {} : { stop_reason: stopSequence };
    this.push(this.kind === "chat" ? { index: choice, delta: {}, logprobs: null, finish_reason: finishReason, ...stop } : { text: "", index: choice, logprobs: null, finish_reason: finishReason, ...stop });
  }

  /** The reply is complete; `usage` is its OpenAI usage object. */
  finish(usage: unknown): void {
    if (this.includeUsage) this.enqueue({ ...this.envelope([]), usage });
    this.closed = true;
    this.wake?.();
  }

  fail(error: unknown): void {
    this.failure = { error };
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<StreamChunk> {
    for (;;) {
      const chunk = this.queue.shift();
      if (chunk !== undefined) {
        yield chunk;
        continue;
      }
      if (this.failure) throw this.failure.error;
      if (this.closed) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = null;
    }
  }

  /** The role chunk that opens a chat choice (completions have none). */
  private opening(choice: number): void {
    if (this.started.has(choice)) return;
    this.started.add(choice);
    if (this.kind === "chat") this.push({ index: choice, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null });
  }

  private push(choice: Record<string, unknown>): void {
    this.enqueue(this.includeUsage ? { ...this.envelope([choice]), usage: null } : this.envelope([choice]));
  }

  private enqueue(data: Record<string, unknown>): void {
    this.queue.push({ event: null, data });
    this.wake?.();
  }

  private envelope(choices: Record<string, unknown>[]): Record<string, unknown> {
    const object = this.kind === "chat" ? "chat.completion.chunk" : "text_completion";
    const base = { id: this.id, object, created: this.created, model: this.modelName, choices };
    return this.kind === "chat" ? { ...base, system_fingerprint: null } : base;
  }
}

/** Whether an OpenAI body asks for the usage chunk at the end of its stream. */
export function wantsUsage(body: Record<string, unknown>): boolean {
  const options = body.stream_options;
  return typeof options === "object" && options !== null && (options as { include_usage?: unknown }).include_usage === true;
}
