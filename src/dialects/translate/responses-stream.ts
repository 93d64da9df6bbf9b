/**
 * OpenAI `chat.completion.chunk`s -> Responses API streaming events, for `/v1/responses` with `stream: true`
 * served through chat completions (responses-request.ts). One translator per stream, fed chunk by chunk:
 * `response.created` and `response.in_progress` first; a message item (`output_item.added`,
 * `content_part.added`, then `output_text.delta` per piece of text) when text arrives; a function_call item
 * (`output_item.added`, `function_call_arguments.delta`) per tool call; at the finish every open item is
 * closed (`output_text.done`, `content_part.done`, `function_call_arguments.done`, `output_item.done`); at
 * the end `response.completed` (or `response.incomplete` when the token limit cut the reply) carries the
 * whole response with usage, built as chatToResponse builds it. Every event has its `sequence_number`,
 * and its SSE event name is its type, as OpenAI sends them; the SDK's `responses.stream()` accumulates
 * them into the same response a non-streamed call returns.
 */
import type { StreamChunk } from "../../core/engine.ts";
import { asArray, asNumber, asObject, asString, isObject, type JsonObject } from "./json-fields.ts";
import { functionCallItem, idStem, responseObject, toResponseUsage, type ResponseEcho } from "./responses-reply.ts";

interface MessageDraft {
  outputIndex: number;
  text: string;
}

interface CallDraft {
  outputIndex: number;
  id: string | undefined;
  name: string;
  arguments: string;
}

export class ChatToResponsesStream {
  private sequence = 0;
  private stem: string | null = null;
  private createdAt = Math.floor(Date.now() / 1000);
  private outputs = 0;
  private message: MessageDraft | null = null;
  private readonly calls = new Map<number, CallDraft>();
  private readonly done: JsonObject[] = [];
  private finishReason: string | null = null;
  private closed = false;
  private usage: JsonObject | null = null;

  constructor(private readonly echo: ResponseEcho) {}

  chunk(data: JsonObject): StreamChunk[] {
    const events = this.start(data);
    const usage = toResponseUsage(data.usage);
    if (usage) this.usage = usage;
    // Only the first choice: the Responses API has no `n`.
    const choice = asArray(data.choices).filter(isObject).find((each) => (asNumber(each.index) ?? 0) === 0);
    if (!choice || this.closed) return events;
    const delta = asObject(choice.delta) ?? {};
    const text = asString(delta.content);
    if (text) events.push(...this.addText(text));
    for (const call of asArray(delta.tool_calls).filter(isObject)) events.push(...this.addCall(call));
    const finish = asString(choice.finish_reason);
    if (finish) {
      this.finishReason = finish;
      events.push(...this.closeItems());
    }
    return events;
  }

  end(): StreamChunk[] {
    const events = this.start({});
    if (!this.closed) events.push(...this.closeItems());
    const incomplete = this.finishReason === "length" || this.finishReason === "content_filter";
    const response = this.response(incomplete ? "incomplete" : "completed", this.done, this.usage);
    if (incomplete) response.incomplete_details = { reason: this.finishReason === "length" ? "max_output_tokens" : "content_filter" };
    events.push(this.event(incomplete ? "response.incomplete" : "response.completed", { response }));
    return events;
  }

  private start(data: JsonObject): StreamChunk[] {
    if (this.stem !== null) return [];
    this.stem = idStem(data.id);
    this.createdAt = asNumber(data.created) ?? this.createdAt;
    const response = this.response("in_progress", [], null);
    return [this.event("response.created", { response }), this.event("response.in_progress", { response })];
  }

  private addText(text: string): StreamChunk[] {
    const events: StreamChunk[] = [];
    if (this.message === null) {
      this.message = { outputIndex: this.outputs++, text: "" };
      const item = { id: this.messageId(), type: "message", status: "in_progress", role: "assistant", content: [] };
      events.push(this.event("response.output_item.added", { output_index: this.message.outputIndex, item }));
      events.push(this.event("response.content_part.added", { ...this.partPlace(), part: { type: "output_text", text: "", annotations: [], logprobs: [] } }));
    }
    this.message.text += text;
    events.push(this.event("response.output_text.delta", { ...this.partPlace(), delta: text, logprobs: [] }));
    return events;
  }

  private addCall(call: JsonObject): StreamChunk[] {
    const slot = asNumber(call.index) ?? this.calls.size;
    const fn = asObject(call.function) ?? {};
    const events: StreamChunk[] = [];
    let draft = this.calls.get(slot);
    if (draft === undefined) {
      draft = { outputIndex: this.outputs++, id: asString(call.id), name: asString(fn.name) ?? "", arguments: "" };
      this.calls.set(slot, draft);
      const item = { ...this.callItem(draft, slot), status: "in_progress", arguments: "" };
      events.push(this.event("response.output_item.added", { output_index: draft.outputIndex, item }));
    } else if (asString(fn.name)) {
      draft.name += asString(fn.name);
    }
    const piece = asString(fn.arguments) ?? "";
    if (piece.length > 0) {
      draft.arguments += piece;
      events.push(this.event("response.function_call_arguments.delta", { item_id: this.callItem(draft, slot).id, output_index: draft.outputIndex, delta: piece }));
    }
    return events;
  }

  private closeItems(): StreamChunk[] {
    this.closed = true;
    const events: StreamChunk[] = [];
    const closing: { outputIndex: number; events: StreamChunk[]; item: JsonObject }[] = [];
    const incomplete = this.finishReason === "length" || this.finishReason === "content_filter";
    if (this.message === null && this.calls.size === 0) this.addText("").forEach((event) => events.push(event));
    if (this.message !== null) {
      const part = { type: "output_text", text: this.message.text, annotations: [], logprobs: [] };
      const item = { id: this.messageId(), type: "message", status: incomplete ? "incomplete" : "completed", role: "assistant", content: [part] };
      closing.push({
        outputIndex: this.message.outputIndex,
        item,
        events: [
          this.event("response.output_text.done", { ...this.partPlace(), text: this.message.text, logprobs: [] }),
          this.event("response.content_part.done", { ...this.partPlace(), part }),
          this.event("response.output_item.done", { output_index: this.message.outputIndex, item }),
        ],
      });
    }
    for (const [slot, draft] of [...this.calls.entries()].sort(([a], [b]) => a - b)) {
      const item = this.callItem(draft, slot);
      closing.push({
        outputIndex: draft.outputIndex,
        item,
        events: [
          this.event("response.function_call_arguments.done", { item_id: item.id, output_index: draft.outputIndex, name: item.name, arguments: draft.arguments }),
          this.event("response.output_item.done", { output_index: draft.outputIndex, item }),
        ],
      });
    }
    for (const entry of closing.sort((a, b) => a.outputIndex - b.outputIndex)) {
      events.push(...entry.events);
      this.done.push(entry.item);
    }
    return events;
  }

  private callItem(draft: CallDraft, slot: number): JsonObject {
    return functionCallItem({ id: draft.id, function: { name: draft.name, arguments: draft.arguments } }, this.stem ?? "", slot);
  }

  private messageId(): string {
    return `msg_${this.stem ?? ""}`;
  }

  private partPlace(): JsonObject {
    return { item_id: this.messageId(), output_index: this.message?.outputIndex ?? 0, content_index: 0 };
  }

  private response(status: string, output: JsonObject[], usage: JsonObject | null): JsonObject {
    return responseObject(this.echo, { id: `resp_${this.stem ?? ""}`, createdAt: this.createdAt, status, incompleteReason: null, output: [...output], usage });
  }

  private event(type: string, fields: JsonObject): StreamChunk {
    return { event: type, data: { type, sequence_number: this.sequence++, ...fields } };
  }
}
