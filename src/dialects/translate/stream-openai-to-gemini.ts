/**
 * OpenAI `chat.completion.chunk`s -> Gemini streamed GenerateContentResponses, for a Gemini client
 * (`streamGenerateContent`) served by an OpenAI-shaped Engine. One translator per stream, fed chunk by
 * chunk (ChunkPipe), mirroring openAIToGeminiResponse for a whole reply:
 * - text deltas become text parts as they arrive (reasoning deltas become thought parts when the request
 *   asked for thoughts); an answer constrained to an enum (`text/x.enum`) is unwrapped, so its text is held
 *   until the choice finishes;
 * - tool call deltas are gathered (OpenAI streams a call's arguments in pieces, Gemini sends whole
 *   functionCall parts) and sent with the finish;
 * - the chunk that finishes a candidate is held back until the usage chunk that OpenAI sends after it
 *   (the translating wrapper always asks for one), so the last Gemini chunk carries finishReason and
 *   usageMetadata together, as Gemini's own last chunk does.
 */
import { asArray, asNumber, asObject, asString, compact, isObject, type JsonObject } from "./json-fields.ts";
import { functionCallPart, replyContextOf, toGeminiFinishReason, toUsageMetadata, unwrapEnum, type ReplyContext } from "./openai-to-gemini-response.ts";

interface CallDraft {
  id: string | undefined;
  name: string;
  arguments: string;
}

interface ChoiceState {
  calls: Map<number, CallDraft>;
  enumText: string;
}

export class OpenAIToGeminiStream {
  private readonly context: ReplyContext;
  private readonly choices = new Map<number, ChoiceState>();
  private responseId: string | undefined;
  private held: JsonObject | null = null;

  constructor(
    private readonly modelName: string,
    request: JsonObject,
  ) {
    this.context = replyContextOf(request);
  }

  chunk(data: JsonObject): JsonObject[] {
    this.responseId ??= asString(data.id);
    const out: JsonObject[] = [];
    const candidates: JsonObject[] = [];
    let finished = false;
    for (const [position, value] of asArray(data.choices).entries()) {
      const choice = asObject(value) ?? {};
      const candidate = this.candidate(choice, asNumber(choice.index) ?? position);
      if (candidate === null) continue;
      candidates.push(candidate);
      if (candidate.finishReason !== undefined) finished = true;
    }
    const usageMetadata = toUsageMetadata(data.usage);
    if (candidates.length > 0) {
      if (this.held) out.push(this.held);
      this.held = null;
      const response = this.response({ candidates });
      if (finished && usageMetadata === undefined) this.held = response;
      else out.push(usageMetadata ? { ...response, usageMetadata } : response);
    } else if (usageMetadata !== undefined) {
      out.push(this.held ? { ...this.held, usageMetadata } : this.response({ usageMetadata }));
      this.held = null;
    }
    return out;
  }

  end(): JsonObject[] {
    const last = this.held;
    this.held = null;
    return last ? [last] : [];
  }

  private candidate(choice: JsonObject, index: number): JsonObject | null {
    const state = this.stateOf(index);
    const delta = asObject(choice.delta) ?? {};
    const parts: JsonObject[] = [];
    const reasoning = asString(delta.reasoning_content) ?? asString(delta.reasoning);
    if (this.context.includeThoughts && reasoning) parts.push({ text: reasoning, thought: true });
    const text = asString(delta.content);
    if (text) {
      if (this.context.unwrapEnum) state.enumText += text;
      else parts.push({ text });
    }
    for (const call of asArray(delta.tool_calls).filter(isObject)) {
      const slot = asNumber(call.index) ?? state.calls.size;
      const fn = asObject(call.function) ?? {};
      const draft = state.calls.get(slot) ?? { id: undefined, name: "", arguments: "" };
      draft.id ??= asString(call.id);
      draft.name += asString(fn.name) ?? "";
      draft.arguments += asString(fn.arguments) ?? "";
      state.calls.set(slot, draft);
    }
    let finishReason = toGeminiFinishReason(choice.finish_reason);
    if (finishReason !== undefined) {
      if (this.context.unwrapEnum && state.enumText) parts.push({ text: unwrapEnum(state.enumText) });
      for (const draft of [...state.calls.entries()].sort(([a], [b]) => a - b).map(([, each]) => each)) {
        const part = functionCallPart({ id: draft.id, function: { name: draft.name, arguments: draft.arguments } });
        if (part) parts.push(part);
        else finishReason = "MALFORMED_FUNCTION_CALL";
      }
      this.choices.delete(index);
    }
    if (parts.length === 0 && finishReason === undefined) return null;
    return compact({ content: parts.length > 0 ? { role: "model", parts } : { role: "model" }, finishReason, index });
  }

  private stateOf(index: number): ChoiceState {
    let state = this.choices.get(index);
    if (state === undefined) {
      state = { calls: new Map(), enumText: "" };
      this.choices.set(index, state);
    }
    return state;
  }

  private response(fields: JsonObject): JsonObject {
    return compact({ ...fields, modelVersion: this.modelName, responseId: this.responseId });
  }
}
