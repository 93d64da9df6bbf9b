/** What the llama-cpp Engine hands node-llama-cpp for one generation: prompt tokens, chat history, sampling. */
import type { ChatHistoryItem, LlamaModel, Token, TokenBias } from "node-llama-cpp";
import type { ChatMessage, SamplingParams } from "./openai-request.ts";
import type { FinishReason } from "./openai-replies.ts";

/** The tokens LlamaCompletion evaluates for `text`: the BOS token when the model wants one, then the text. */
export function completionPromptTokens(model: LlamaModel, text: string): Token[] {
  const bos = model.tokens.shouldPrependBosToken ? model.tokens.bos : null;
  const tokens = model.tokenize(text, false, bos === null ? undefined : "trimLeadingSpace");
  return bos === null ? tokens : [bos, ...tokens];
}

export function toChatHistory(messages: ChatMessage[]): ChatHistoryItem[] {
  const history: ChatHistoryItem[] = messages.map((message) =>
    message.role === "assistant" ? { type: "model", response: [message.text] } : { type: message.role, text: message.text },
  );
  // The reply is always a new assistant turn, even after an assistant message (OpenAI semantics).
  history.push({ type: "model", response: [] });
  return history;
}

export function samplingOptions(sampling: SamplingParams, choice: number, tokenBias: TokenBias | undefined) {
  const penalized = sampling.presencePenalty !== undefined || sampling.frequencyPenalty !== undefined || sampling.repetitionPenalty !== undefined;
  return {
    temperature: sampling.temperature,
    topP: sampling.topP,
    topK: sampling.topK,
    minP: sampling.minP,
    // Each choice of n gets its own seed, so choices differ but the whole reply stays reproducible.
    seed: sampling.seed === undefined ? undefined : sampling.seed + choice,
    customStopTriggers: sampling.stop.length > 0 ? sampling.stop : undefined,
    repeatPenalty: penalized
      ? { penalty: sampling.repetitionPenalty ?? 1, presencePenalty: sampling.presencePenalty, frequencyPenalty: sampling.frequencyPenalty }
      : (false as const),
    tokenBias,
  };
}

/** Why a generation ended, and which stop string ended it (its text parts; token ids have none). */
export function finishOf(metadata: { stopReason: string; customStopTrigger?: (string | Token)[] }): { finishReason: FinishReason; stopSequence?: string } {
  if (metadata.stopReason === "maxTokens") return { finishReason: "length" };
  const trigger = metadata.customStopTrigger?.filter((part): part is string => typeof part === "string").join("");
  return trigger ? { finishReason: "stop", stopSequence: trigger } : { finishReason: "stop" };
}
