/**
 * Ids in paths. Fastify decodes each segment once (the SDK percent-encodes `/` as `%2F`). On the Gemini
 * OpenAI-compatibility surface ids may come in resource-name form — `files/abc`, `batches/abc`, sent either
 * encoded in one segment or as two segments — so that surface tries the bare and prefixed forms too.
 */
export type ResourceKind = "files" | "batches";

const ID_PREFIX: Record<ResourceKind, string> = { files: "file-", batches: "batch_" };

/** Ids to look up, most likely first; one entry unless `resourceNames` allows the Gemini forms. */
export function idCandidates(raw: string, kind: ResourceKind, resourceNames: boolean): string[] {
  if (!resourceNames) return [raw];
  const candidates = [raw];
  const resourcePrefix = `${kind}/`;
  if (raw.startsWith(resourcePrefix)) {
    const bare = raw.slice(resourcePrefix.length);
    candidates.push(bare);
    if (!bare.startsWith(ID_PREFIX[kind])) candidates.push(`${ID_PREFIX[kind]}${bare}`);
  }
  return candidates;
}

/** Finds the first candidate `lookup` knows. */
export async function findByCandidates<T>(candidates: readonly string[], lookup: (id: string) => Promise<T | null>): Promise<T | null> {
  for (const id of candidates) {
    const found = await lookup(id);
    if (found) return found;
  }
  return null;
}
