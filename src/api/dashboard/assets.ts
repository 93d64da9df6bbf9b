/**
 * The dashboard's page, script and styles (assets/), served by spool itself: no CDN, no build step, no
 * framework; a few tens of kilobytes read once at start-up. Each answer carries an ETag so a reload costs
 * a 304.
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { extname } from "node:path";
import { fileURLToPath } from "node:url";

export interface Asset {
  body: Buffer;
  contentType: string;
  etag: string;
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
};

const DIRECTORY = new URL("./assets/", import.meta.url);

export function loadAssets(): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const name of readdirSync(fileURLToPath(DIRECTORY))) {
    const contentType = TYPES[extname(name)];
    if (contentType === undefined) continue;
    const body = readFileSync(fileURLToPath(new URL(name, DIRECTORY)));
    assets.set(name, { body, contentType, etag: `"${createHash("sha256").update(body).digest("hex").slice(0, 16)}"` });
  }
  return assets;
}
