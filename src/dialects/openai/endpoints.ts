/** The OpenAI endpoints spool serves, and the RequestKind each one is. */
import type { RequestKind } from "../../core/types.ts";

export const KIND_BY_ENDPOINT = {
  "/v1/chat/completions": "chat",
  // Run as chat completions (src/dialects/translate/responses-request.ts).
  "/v1/responses": "chat",
  "/v1/embeddings": "embedding",
  "/v1/completions": "completion",
  // Stored as embedding Items (input only, nothing generated) and dispatched as `moderation` calls
  // (BatchFormat.engineCall): only an openai engine serves them, passing them to its upstream.
  "/v1/moderations": "embedding",
} as const satisfies Record<string, RequestKind>;

export const MODERATIONS_ENDPOINT = "/v1/moderations";

/** The model of a moderation request that names none, as at OpenAI. */
export const DEFAULT_MODERATION_MODEL = "omni-moderation-latest";

export type OpenAIEndpoint = keyof typeof KIND_BY_ENDPOINT;

export const SUPPORTED_ENDPOINTS = Object.keys(KIND_BY_ENDPOINT) as OpenAIEndpoint[];

export function isSupportedEndpoint(value: string): value is OpenAIEndpoint {
  return Object.hasOwn(KIND_BY_ENDPOINT, value);
}

/** What the kind is called in messages ("Model 'x' does not serve embeddings"). */
export const KIND_NOUN: Record<RequestKind, string> = {
  chat: "chat completions",
  completion: "text completions",
  embedding: "embeddings",
};
