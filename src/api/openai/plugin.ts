/**
 * The OpenAI dialect as a Fastify plugin: Files, Batches, synchronous inference (chat, completions,
 * embeddings, responses) and models. Mounted by
 * the HTTP server at `/v1` and, for the Gemini OpenAI-compatibility surface, at `/v1beta/openai` (where ids
 * may also come as resource names like `batches/abc`).
 */
import type { FastifyInstance } from "fastify";
import type { AppContext } from "../../app-context.ts";
import type { DialectSurface } from "../shared/dialect-surface.ts";
import { registerBatchRoutes } from "./batches-routes.ts";
import { toOpenAIErrorReply } from "./errors.ts";
import { registerFileRoutes } from "./files-routes.ts";
import { registerInferenceRoutes } from "./inference-routes.ts";
import { registerResponsesRoutes } from "./responses-routes.ts";

export async function registerOpenAIRoutes(app: FastifyInstance, ctx: AppContext, options: { resourceNames: boolean }): Promise<void> {
  await registerFileRoutes(app, ctx, options);
  await registerBatchRoutes(app, ctx, options);
  await registerInferenceRoutes(app, ctx);
  await registerResponsesRoutes(app, ctx);
}

/** The two mounts of the OpenAI dialect, for buildHttpServer. */
export function openAISurfaces(): DialectSurface[] {
  return [
    { name: "openai", prefix: "/v1", register: (scope, ctx) => registerOpenAIRoutes(scope, ctx, { resourceNames: false }), toErrorReply: toOpenAIErrorReply },
    {
      name: "openai-compat",
      prefix: "/v1beta/openai",
      register: (scope, ctx) => registerOpenAIRoutes(scope, ctx, { resourceNames: true }),
      toErrorReply: toOpenAIErrorReply,
    },
  ];
}
