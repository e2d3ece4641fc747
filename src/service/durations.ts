/** Durations as people type them (`30s`, `15m`, `6h`, `7d`): telemetry buckets, silence thresholds. */
import { InvalidInputError } from './errors.js';

const UNIT_SECONDS = { s: 1, m: 60, h: 3_600, d: 86_400 } as const;
const DURATION_RE = /^(\d{1,9})(s|m|h|d)$/;
/**
 * 100 years. Longer ones overflowed: PostgreSQL's interval (`999999999d` answered 500, interval out
 * of range) and JavaScript's Date (`--from 999999999d` is before the earliest Date).
 */
export const MAX_DURATION_DAYS = 36_500;
const MAX_DURATION_SECONDS = MAX_DURATION_DAYS * UNIT_SECONDS.d;

/** `15m` -> 900; null when the text is not a whole number followed by s, m, h or d, or is 0 or over 100 years. */
export function durationSeconds(text: string): number | null {
  const m = DURATION_RE.exec(text.trim());
  if (!m) return null;
  const seconds = Number(m[1]) * UNIT_SECONDS[m[2] as keyof typeof UNIT_SECONDS];
  return seconds > 0 && seconds <= MAX_DURATION_SECONDS ? seconds : null;
}

/** Like durationSeconds, but a clear InvalidInputError naming `what` instead of null. */
export function parseDuration(text: string, what: string): number {
  const seconds = durationSeconds(text);
  if (seconds === null)
    throw new InvalidInputError(
      `${what} ${JSON.stringify(text)} is not a duration: use a whole number and s, m, h or d (e.g. 30s, 15m, 6h, 1d), from 1s to ${MAX_DURATION_DAYS}d`,
    );
  return seconds;
}

/** 900 -> `15m`, 90 -> `90s`: the largest unit that divides it. */
export function formatDuration(seconds: number): string {
  for (const unit of ['d', 'h', 'm'] as const)
    if (seconds % UNIT_SECONDS[unit] === 0) return `${seconds / UNIT_SECONDS[unit]}${unit}`;
  return `${seconds}s`;
}
