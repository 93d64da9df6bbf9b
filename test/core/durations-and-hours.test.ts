/** Durations (completion windows) and batch hours (off-peak windows): the parsers and the calendar arithmetic. */
import { describe, expect, it } from "vitest";
import { BatchHours } from "../../src/core/batch-hours.ts";
import { formatDuration, parseDuration, windowProblem } from "../../src/core/durations.ts";

const HOUR = 3_600_000;
const MINUTE = 60_000;
const DAY = 24 * HOUR;
const MIDNIGHT = Date.UTC(2026, 0, 5);

describe("durations", () => {
  it("reads days, hours, minutes and seconds, alone or combined largest first", () => {
    expect(parseDuration("24h")).toBe(24 * HOUR);
    expect(parseDuration("90m")).toBe(90 * MINUTE);
    expect(parseDuration("7d")).toBe(7 * DAY);
    expect(parseDuration("1h30m")).toBe(90 * MINUTE);
    expect(parseDuration("1d2h3m4s")).toBe(DAY + 2 * HOUR + 3 * MINUTE + 4_000);
    expect(parseDuration("45s")).toBe(45_000);
  });

  it("refuses zero, empty, fractional, unit-less, reordered and unknown forms", () => {
    for (const text of ["", "0h", "0d0h", "1.5h", "24", "30m1h", "1w", "h", "forever", "-1h", " "]) expect(parseDuration(text)).toBeNull();
  });

  it("says what is wrong with a window: not a duration, or longer than 30 days", () => {
    expect(windowProblem("24h")).toBeNull();
    expect(windowProblem("720h")).toBeNull();
    expect(windowProblem("721h")).toMatch(/at most 30 days/);
    expect(windowProblem("31d")).toMatch(/at most 30 days/);
    expect(windowProblem("soon")).toMatch(/duration like "24h"/);
  });

  it("writes durations back in the shortest form, hours up to two days", () => {
    expect(formatDuration(48 * HOUR)).toBe("48h");
    expect(formatDuration(90 * MINUTE)).toBe("1h30m");
    expect(formatDuration(7 * DAY)).toBe("7d");
    expect(formatDuration(3 * DAY + HOUR)).toBe("3d1h");
  });
});

describe("batch hours", () => {
  it("is open inside a range that crosses midnight and closed outside it", () => {
    const hours = BatchHours.parse("16:30-00:30 UTC");
    expect(hours.isOpen(MIDNIGHT + 16 * HOUR + 29 * MINUTE)).toBe(false);
    expect(hours.isOpen(MIDNIGHT + 16 * HOUR + 30 * MINUTE)).toBe(true);
    expect(hours.isOpen(MIDNIGHT + 23 * HOUR)).toBe(true);
    expect(hours.isOpen(MIDNIGHT + 24 * HOUR + 29 * MINUTE)).toBe(true);
    expect(hours.isOpen(MIDNIGHT + 24 * HOUR + 30 * MINUTE)).toBe(false);
  });

  it("finds the next opening and closing, skipping the midnight that joins a crossing range", () => {
    const hours = BatchHours.parse("16:30-00:30 UTC");
    expect(hours.nextOpenMs(MIDNIGHT + 10 * HOUR)).toBe(MIDNIGHT + 16.5 * HOUR);
    expect(hours.nextOpenMs(MIDNIGHT + 17 * HOUR)).toBe(MIDNIGHT + 17 * HOUR);
    expect(hours.nextChangeMs(MIDNIGHT + 17 * HOUR)).toBe(MIDNIGHT + DAY + 30 * MINUTE);
    expect(hours.nextChangeMs(MIDNIGHT + 2 * HOUR)).toBe(MIDNIGHT + 16.5 * HOUR);
  });

  it("counts the open time between two instants across days", () => {
    const hours = BatchHours.parse("16:30-00:30 UTC");
    expect(hours.openMsBetween(MIDNIGHT + 10 * HOUR, MIDNIGHT + 20 * HOUR)).toBe(3.5 * HOUR);
    expect(hours.openMsBetween(MIDNIGHT, MIDNIGHT + 2 * DAY)).toBe(16 * HOUR);
    expect(hours.openMsBetween(MIDNIGHT + HOUR, MIDNIGHT + 16 * HOUR)).toBe(0);
  });

  it("takes several ranges and a fixed offset from UTC", () => {
    const hours = BatchHours.parse("01:00-03:00, 22:00-23:00 UTC+02:00");
    // 01:00-03:00 at +02:00 is 23:00-01:00 UTC; 22:00-23:00 is 20:00-21:00 UTC.
    expect(hours.isOpen(MIDNIGHT + 23.5 * HOUR)).toBe(true);
    expect(hours.isOpen(MIDNIGHT + 0.5 * HOUR)).toBe(true);
    expect(hours.isOpen(MIDNIGHT + 1.5 * HOUR)).toBe(false);
    expect(hours.isOpen(MIDNIGHT + 20.5 * HOUR)).toBe(true);
    expect(hours.openMsBetween(MIDNIGHT, MIDNIGHT + DAY)).toBe(3 * HOUR);
    expect(BatchHours.parse("00:00-24:00 UTC").openMsBetween(MIDNIGHT + 5, MIDNIGHT + 2 * DAY)).toBe(2 * DAY - 5);
  });

  it("explains what is wrong with a bad value", () => {
    expect(() => BatchHours.parse("16:30-00:30")).toThrow(/time zone/);
    expect(() => BatchHours.parse("16:30-00:30 Europe/Paris")).toThrow(/time zone/);
    expect(() => BatchHours.parse("16:30 to 00:30 UTC")).toThrow(/range like/);
    expect(() => BatchHours.parse("25:00-01:00 UTC")).toThrow(/outside 00:00-24:00/);
    expect(() => BatchHours.parse("10:00-10:00 UTC")).toThrow(/empty range/);
    expect(() => BatchHours.parse("10:00-12:00 UTC+15:00")).toThrow(/beyond/);
  });
});
