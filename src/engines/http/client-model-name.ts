/**
 * Replies carry the Model name the client used, not the upstream's name for it (`upstreamModel` is spool's
 * configuration, not the client's business). When the names already agree the parsed body is returned as is,
 * so its upstream bytes are still written unchanged (core/json.ts `jsonTextOf`, decision 0011); only when
 * they differ is a new object built (the parsed one is never mutated: its remembered text would lie), as a
 * copyWithMembers copy, so the text of its other members stays known (a packed embedding reply's vectors).
 */
import { copyWithMembers } from "../../core/json.ts";

export function withClientModelName(body: Record<string, unknown>, field: "model" | "modelVersion", modelName: string): Record<string, unknown> {
  return typeof body[field] === "string" && body[field] !== modelName ? copyWithMembers(body, { [field]: modelName }) : body;
}
