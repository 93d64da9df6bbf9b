/** The `webhooks` entries of the config file (config.ts): where `batch.*` events go and the secret that signs them. */
import { z } from "zod";

/** Standard Webhooks secret: `whsec_` + base64 of 24 to 64 random bytes (the signing key). */
const webhookSecret = z.string().refine(
  (secret) => {
    const match = /^whsec_([A-Za-z0-9+/]+={0,2})$/.exec(secret);
    const bytes = match?.[1] ? Buffer.from(match[1], "base64").length : 0;
    return bytes >= 24 && bytes <= 64;
  },
  { message: "must be a Standard Webhooks secret: 'whsec_' followed by the base64 of 24 to 64 random bytes (e.g. whsec_$(openssl rand -base64 32))" },
);

/** An endpoint that receives `batch.*` events (docs/decisions/0014-webhooks-metrics-dashboard.md). */
export const webhookSchema = z.strictObject({
  url: z.url(),
  secret: webhookSecret,
});
