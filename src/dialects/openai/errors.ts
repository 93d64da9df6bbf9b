/**
 * OpenAI's error envelope `{"error":{"message","type","param","code"}}`: the one builder for the API
 * (src/api/openai/errors.ts) and for translation (src/dialects/translate/error-bodies.ts). The SDK picks its
 * exception class from the HTTP status and copies `message`, `type`, `param` and `code` as they are.
 */

export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export function openAIErrorBody(message: string, type: string, param: string | null = null, code: string | null = null): OpenAIErrorBody {
  return { error: { message, type, param, code } };
}

/** The envelope's `type` for an HTTP status, as OpenAI sends it. */
export function openAIErrorType(status: number): string {
  if (status === 401) return "authentication_error";
  if (status === 403) return "permission_error";
  if (status === 429) return "rate_limit_error";
  return status >= 500 ? "server_error" : "invalid_request_error";
}

export function isOpenAIEnvelope(body: unknown): body is OpenAIErrorBody {
  if (typeof body !== "object" || body === null) return false;
  const inner = (body as { error?: unknown }).error;
  return typeof inner === "object" && inner !== null && typeof (inner as { message?: unknown }).message === "string";
}
