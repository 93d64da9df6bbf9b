/** Translation between the OpenAI and Gemini request/reply shapes, and the wrapper that applies it. */
export { TranslationError } from "./translation-error.ts";
export { geminiToOpenAIRequest } from "./gemini-to-openai-request.ts";
export { generationConfigToOpenAI, RESPONSE_SCHEMA_NAME, ENUM_VALUE_PROPERTY } from "./gemini-generation-config.ts";
export { openAIToGeminiResponse, toGeminiFinishReason, toUsageMetadata, openAIEmbeddingVectors, toGeminiEmbedContentResponse, type GeminiResponseOptions } from "./openai-to-gemini-response.ts";
export { openAIToGeminiRequest } from "./openai-to-gemini-request.ts";
export { geminiToOpenAIResponse, toOpenAIFinishReason, toOpenAIUsage, encodeBase64Floats, type OpenAIResponseOptions } from "./gemini-to-openai-response.ts";
export { geminiSchemaToJsonSchema } from "./gemini-schema.ts";
export { fitEmbeddingDimension } from "./embedding-dimension.ts";
export { errorBodyIn, geminiErrorBody, openAIErrorBody, toDialectErrorBody, googleStatusName } from "./error-bodies.ts";
export { withTranslation, translateRequest, translateReply } from "./translating-engine.ts";
