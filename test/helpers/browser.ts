/**
 * A real headless browser for dashboard tests: Debian's Chromium (`apt-get install chromium`, which .ci/run
 * does) driven by playwright-core, which downloads no browser of its own. Tests skip with a clear message
 * where no Chromium is installed. The flags keep Chromium from reaching for outside hosts, which this
 * machine's network refuses (it would otherwise keep retrying in the background). playwright gives every
 * launch a fresh profile.
 */
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { chromium, type Browser } from "playwright-core";
import { TEST_WORK_ROOT } from "./test-dirs.ts";

export const CHROMIUM = process.env.SPOOL_TEST_CHROMIUM ?? "/usr/bin/chromium";
export const hasChromium = existsSync(CHROMIUM);
export const NO_CHROMIUM_REASON = `no Chromium at ${CHROMIUM}: install it with 'apt-get install -y chromium' (.ci/run does) to run the dashboard's browser tests`;

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage"],
  });
}

/** Where screenshots go: test/.work/screenshots/<name>.png (kept for people to look at). */
export function screenshotPath(name: string): string {
  const dir = path.join(TEST_WORK_ROOT, "screenshots");
  mkdirSync(dir, { recursive: true });
  return path.join(dir, `${name}.png`);
}
