/**
 * Certificate rotation settings, from the environment. One line per wrong variable.
 *
 *   ROTATION_SCHEDULE        off (default) | on: on, the worker creates/updates the Schedule at start-up;
 *                            off, it removes one left from an earlier setting. Off by default: the new
 *                            certificate reaches a device only by hand (bundle export), so a device
 *                            whose installer misses the grace period would go offline.
 *   ROTATION_EVERY           how often the Schedule runs (Temporal duration, default 1d)
 *   CERTIFICATE_MAX_AGE_DAYS certificates older than this are rotated (default 365); also the age
 *                            the certificate-age report (API, CLI, gauge) uses, rotation on or off
 *   ROTATION_MAX_PER_RUN     rotations started per run at most (default 20)
 *   ROTATION_GRACE_PERIOD    old and new certificate both work this long (default 7d)
 */

import type { Duration } from '@temporalio/common';
import { msToNumber } from '@temporalio/common/lib/time.js';
import { ConfigError } from '../config/index.js';
import {
  DEFAULT_GRACE_PERIOD,
  DEFAULT_MAX_CERTIFICATE_AGE_DAYS,
  DEFAULT_MAX_ROTATIONS_PER_RUN,
  MAX_ROTATIONS_PER_RUN,
} from './contract.js';

export interface RotationSettings {
  scheduleEnabled: boolean;
  every: Duration;
  maxAgeDays: number;
  maxRotations: number;
  gracePeriod: Duration;
}

export interface CertificateAgeSettings {
  /** CERTIFICATE_MAX_AGE_DAYS: a certificate activated longer ago than this is reported as aging. */
  maxAgeDays: number;
}

const MAX_AGE_LIMIT_DAYS = 3650;

function readMaxAgeDays(env: Record<string, string | undefined>, lines: string[]): number {
  const raw = env.CERTIFICATE_MAX_AGE_DAYS?.trim() || undefined;
  if (raw === undefined) return DEFAULT_MAX_CERTIFICATE_AGE_DAYS;
  const n = Number(raw);
  if (/^\d+$/.test(raw) && n >= 1 && n <= MAX_AGE_LIMIT_DAYS) return n;
  lines.push(
    `CERTIFICATE_MAX_AGE_DAYS: ${JSON.stringify(raw)} is not a whole number from 1 to ${MAX_AGE_LIMIT_DAYS}. Fix: default ${DEFAULT_MAX_CERTIFICATE_AGE_DAYS}`,
  );
  return DEFAULT_MAX_CERTIFICATE_AGE_DAYS;
}

/** The age of the certificate-age report (API, CLI, the consumer's gauge). */
export function readCertificateAgeSettings(
  env: Record<string, string | undefined> = process.env,
): CertificateAgeSettings {
  const lines: string[] = [];
  const maxAgeDays = readMaxAgeDays(env, lines);
  if (lines.length) throw new ConfigError(lines);
  return { maxAgeDays };
}

export function readRotationSettings(
  env: Record<string, string | undefined> = process.env,
): RotationSettings {
  const lines: string[] = [];
  const get = (name: string) => env[name]?.trim() || undefined;

  const schedule = (get('ROTATION_SCHEDULE') ?? 'off').toLowerCase();
  if (!['on', 'off', 'true', 'false'].includes(schedule)) {
    lines.push(
      `ROTATION_SCHEDULE: ${JSON.stringify(schedule)} is not on or off. Fix: set off (default) or on`,
    );
  }
  const duration = (name: string, fallback: string, minMs: number): Duration => {
    const raw = get(name) ?? fallback;
    try {
      const ms = msToNumber(raw as Duration);
      if (ms >= minMs) return raw as Duration;
    } catch {}
    lines.push(
      `${name}: ${JSON.stringify(raw)} is not a duration of at least ${minMs / 1000}s. Fix: e.g. 1d, 12h, 7d`,
    );
    return fallback as Duration;
  };
  const int = (name: string, fallback: number, max: number): number => {
    const raw = get(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (/^\d+$/.test(raw) && n >= 1 && n <= max) return n;
    lines.push(
      `${name}: ${JSON.stringify(raw)} is not a whole number from 1 to ${max}. Fix: default ${fallback}`,
    );
    return fallback;
  };
  const settings: RotationSettings = {
    scheduleEnabled: schedule === 'on' || schedule === 'true',
    every: duration('ROTATION_EVERY', '1d', 60_000),
    maxAgeDays: readMaxAgeDays(env, lines),
    maxRotations: int('ROTATION_MAX_PER_RUN', DEFAULT_MAX_ROTATIONS_PER_RUN, MAX_ROTATIONS_PER_RUN),
    gracePeriod: duration('ROTATION_GRACE_PERIOD', DEFAULT_GRACE_PERIOD, 0),
  };
  if (lines.length) throw new ConfigError(lines);
  return settings;
}
