/**
 * Durations as people write them in completion windows and config: `24h`, `90m`, `7d`, `1h30m`, `45s`
 * (units d, h, m, s, largest first, each at most once). One parser, so the OpenAI `completion_window`
 * extension and the config's default windows accept exactly the same forms.
 */

const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1_000 } as const;
const DURATION = /^(?:(\d{1,6})d)?(?:(\d{1,6})h)?(?:(\d{1,6})m)?(?:(\d{1,6})s)?$/;

/** Longest completion window spool accepts: 30 days (720h), as before durations were general. */
export const MAX_WINDOW_MS = 30 * UNIT_MS.d;

/** Milliseconds of `text`, or null when it is not a duration of the forms above or is zero. */
export function parseDuration(text: string): number | null {
  const match = DURATION.exec(text.trim());
  if (!match || text.trim() === "") return null;
  const [, d, h, m, s] = match;
  const ms = Number(d ?? 0) * UNIT_MS.d + Number(h ?? 0) * UNIT_MS.h + Number(m ?? 0) * UNIT_MS.m + Number(s ?? 0) * UNIT_MS.s;
  return ms > 0 ? ms : null;
}

/** A window's problem in words, or null when `text` is a usable completion window (1 s to 30 days). */
export function windowProblem(text: string): string | null {
  const ms = parseDuration(text);
  if (ms === null) return `must be a duration like "24h", "90m", "7d" or "1h30m"`;
  if (ms > MAX_WINDOW_MS) return "may be at most 30 days (720h)";
  return null;
}

/** The shortest spelling of `ms` in the same units (`48h`, `90m`, `1d12h`); sub-second parts are dropped. */
export function formatDuration(ms: number): string {
  let rest = Math.max(0, Math.round(ms / 1000)) * 1000;
  let out = "";
  for (const [unit, size] of Object.entries(UNIT_MS)) {
    // Whole days read better as hours up to 48h (the windows the APIs document: 24h, 48h).
    if (unit === "d" && rest <= 2 * UNIT_MS.d) continue;
    const count = Math.floor(rest / size);
    if (count > 0) out += `${count}${unit}`;
    rest -= count * size;
  }
  return out || "0s";
}
