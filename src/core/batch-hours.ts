/**
 * Batch hours: when a Model may run Batch traffic (its off-peak window), e.g. `16:30-00:30 UTC`, or several
 * ranges `01:00-06:00, 22:00-23:30 UTC+02:00`. A range whose end is before its start crosses midnight;
 * `24:00` may end a range. The zone is `UTC` or a fixed offset from it (`UTC+05:30`, `UTC-3`).
 *
 * Time zones with daylight saving time (IANA names) are deliberately not accepted: a window that moves
 * by an hour twice a year would need a zone database in the scheduler's arithmetic, and an operator can
 * write the offset of the season. Sync traffic never looks at batch hours.
 */

const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;
const RANGE = /^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$/;
const ZONE = /^UTC(?:([+-])(\d{1,2})(?::(\d{2}))?)?$/;

export class BatchHours {
  /**
   * Open intervals within one UTC day, [startMs, endMs) from midnight UTC, sorted and merged; a range that
   * crosses midnight (in UTC) is split in two.
   */
  private constructor(
    readonly text: string,
    private readonly intervals: readonly (readonly [number, number])[],
  ) {}

  /** Parses `text`, or throws an Error whose message says what is wrong (config validation shows it). */
  static parse(text: string): BatchHours {
    const trimmed = text.trim();
    const space = trimmed.lastIndexOf(" ");
    const zoneText = space < 0 ? "" : trimmed.slice(space + 1);
    const zone = ZONE.exec(zoneText);
    if (!zone) throw new Error(`must end with a time zone: "UTC" or a fixed offset like "UTC+02:00" (got "${text}"); e.g. "16:30-00:30 UTC"`);
    const offsetMinutes = zone[1] ? (zone[1] === "-" ? -1 : 1) * (Number(zone[2]) * 60 + Number(zone[3] ?? 0)) : 0;
    if (Math.abs(offsetMinutes) > 14 * 60) throw new Error(`has a UTC offset beyond ±14:00 ("${zoneText}")`);
    const pieces: [number, number][] = [];
    for (const part of trimmed.slice(0, space).split(",")) {
      const range = RANGE.exec(part.trim());
      if (!range) throw new Error(`has "${part.trim()}" where a range like "16:30-00:30" belongs`);
      const start = minuteOfDay(Number(range[1]), Number(range[2]), part);
      const end = minuteOfDay(Number(range[3]), Number(range[4]), part);
      if (start === end) throw new Error(`has the empty range "${part.trim()}" (for all day write 00:00-24:00)`);
      // Local minutes to UTC: subtract the offset, wrapping around the day.
      const from = mod(start - offsetMinutes, 1440) * MINUTE_MS;
      const length = mod(end - start, 1440) * MINUTE_MS || DAY_MS;
      if (from + length <= DAY_MS) pieces.push([from, from + length]);
      else pieces.push([from, DAY_MS], [0, from + length - DAY_MS]);
    }
    return new BatchHours(trimmed, merge(pieces));
  }

  isOpen(ms: number): boolean {
    const at = mod(ms, DAY_MS);
    return this.intervals.some(([start, end]) => at >= start && at < end);
  }

  /** The next time after `ms` at which the window opens or closes (for stepping through time). */
  nextChangeMs(ms: number): number {
    const day = ms - mod(ms, DAY_MS);
    for (let offset = 0; offset <= DAY_MS; offset += DAY_MS) {
      for (const [start, end] of this.intervals) {
        for (const edge of [start, end]) {
          const at = day + offset + edge;
          // An edge at midnight that merely joins two days' intervals is not a change.
          if (at > ms && this.isOpen(at) !== this.isOpen(at - 1)) return at;
        }
      }
    }
    return ms + DAY_MS;
  }

  /** `ms` when the window is open, else the time it next opens. */
  nextOpenMs(ms: number): number {
    return this.isOpen(ms) ? ms : this.nextChangeMs(ms);
  }

  /** How much of [fromMs, toMs) lies inside the window. */
  openMsBetween(fromMs: number, toMs: number): number {
    let total = 0;
    for (let day = fromMs - mod(fromMs, DAY_MS); day < toMs; day += DAY_MS) {
      for (const [start, end] of this.intervals) total += Math.max(0, Math.min(toMs, day + end) - Math.max(fromMs, day + start));
    }
    return total;
  }
}

function minuteOfDay(hours: number, minutes: number, part: string): number {
  if (hours > 24 || minutes > 59 || (hours === 24 && minutes > 0)) throw new Error(`has the time "${part.trim()}" outside 00:00-24:00`);
  return hours * 60 + minutes;
}

function mod(value: number, by: number): number {
  return ((value % by) + by) % by;
}

function merge(pieces: [number, number][]): [number, number][] {
  const sorted = [...pieces].sort((a, b) => a[0] - b[0]);
  const merged: [number, number][] = [];
  for (const [start, end] of sorted) {
    const last = merged.at(-1);
    if (last && start <= last[1]) last[1] = Math.max(last[1], end);
    else merged.push([start, end]);
  }
  return merged;
}
