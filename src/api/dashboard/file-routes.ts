/** Downloads of a Batch's input, output and error Files from the dashboard, through signed links (download-links.ts). */
import type { FastifyInstance } from "fastify";
import type { AppContext } from "../../app-context.ts";
import { AppError } from "../../core/errors.ts";
import { BlobNotFoundError } from "../../store/blob-store.ts";
import { presentedApiKey } from "../shared/api-key.ts";
import { DOWNLOAD_LINK_MS, downloadSigner, signDownload } from "./download-links.ts";
import { apiKeyDigest } from "../../core/api-keys.ts";
import { OPEN_CALLER } from "../../core/tenancy.ts";
import { callerOf, visibleFile } from "../shared/caller.ts";
import { downloadQuery, parseQuery } from "./query.ts";

type IdParams = { Params: { id: string } };

/** Served without an API key: the signature is the authorization. */
export const DOWNLOAD_PREFIX = "/download/";

export async function registerFileRoutes(app: FastifyInstance, ctx: AppContext, prefix: string): Promise<void> {
  app.post<IdParams>("/api/files/:id/link", async (request) => {
    const caller = callerOf(request);
    const file = await visibleFile(ctx, caller, request.params.id);
    if (!file) throw new AppError("not_found", `No file ${request.params.id}.`, { param: "id" });
    const expires = ctx.clock.now() + DOWNLOAD_LINK_MS;
    const key = presentedApiKey(request);
    const signature = key === null ? "" : signDownload(file.id, expires, apiKeyDigest(key));
    const query = new URLSearchParams({ expires: String(expires), signature, by: caller.keyId ?? "" });
    return { url: `${prefix}${DOWNLOAD_PREFIX}${encodeURIComponent(file.id)}?${query}`, filename: file.filename, bytes: file.bytes };
  });

  app.get<IdParams>(`${DOWNLOAD_PREFIX}:id`, async (request, reply) => {
    const query = parseQuery(downloadQuery, request.query);
    const open = !(await ctx.tenants.authRequired());
    const signer = open ? OPEN_CALLER : downloadSigner(await ctx.tenants.signers(query.by === "" ? null : query.by), request.params.id, query.expires, query.signature, ctx.clock.now());
    if (signer === null) {
      throw new AppError("unauthenticated", "This download link is not valid or has expired: open the download again from the dashboard.");
    }
    const file = await visibleFile(ctx, signer, request.params.id);
    if (!file) throw new AppError("not_found", `No file ${request.params.id}.`, { param: "id" });
    let stream;
    try {
      stream = await ctx.blobs.read(file.id);
    } catch (error) {
      if (error instanceof BlobNotFoundError) throw new AppError("not_found", `The contents of file ${file.id} are no longer stored.`, { param: "id" });
      throw error;
    }
    const filename = file.filename.replace(/[^\w.-]+/g, "_") || `${file.id}.jsonl`;
    return reply
      .header("content-length", String(file.bytes))
      .header("content-disposition", `attachment; filename="${filename}"`)
      .type(file.mimeType ?? "application/octet-stream")
      .send(stream);
  });
}
