/**
 * The account's AWS IoT request-rate quotas, and how much of each the fleet dispatches:
 *
 *   SOLAR_IOT_QUOTA_CREATE_POLICY=10     the account's quota, requests per second (fractions
 *                                        allowed); one variable per operation (QUOTA_VARIABLES)
 *   SOLAR_IOT_QUOTA_UTILIZATION=0.95     the quota queues dispatch at this share of each quota
 *
 * Unset quotas mean the AWS default. Raise one only after AWS raised the account's quota.
 * The share below 1 is the margin that keeps calls under the quota although the time between
 * the server's dispatch and the call reaching AWS varies (a loaded worker's event loop delivers
 * several at once) and the server's dispatch bucket holds ceil(rate) tasks. Parsed once at
 * worker start-up.
 */
import { ConfigError } from '../config/index.js';
import { DEFAULT_QUOTAS, QUOTA_OPERATIONS, type QuotaOperation } from './classes.js';

export type QuotaSettings = Record<QuotaOperation, number>;

/** CreatePolicy -> SOLAR_IOT_QUOTA_CREATE_POLICY */
export const QUOTA_VARIABLES: Readonly<Record<QuotaOperation, string>> = Object.fromEntries(
  QUOTA_OPERATIONS.map((op) => [
    op,
    `SOLAR_IOT_QUOTA_${op.replace(/(?<=[a-z])(?=[A-Z])/g, '_').toUpperCase()}`,
  ]),
) as Record<QuotaOperation, string>;

export const UTILIZATION_VARIABLE = 'SOLAR_IOT_QUOTA_UTILIZATION';
/** Measured in bench/bulk.ts (docs/performance.md): zero throttled calls, >= 0.9 of the quota. */
export const DEFAULT_UTILIZATION = 0.95;

/** Throws ConfigError, one line per wrong variable, naming it and the fix. */
export function readQuotaSettings(env: Record<string, string | undefined> = process.env): QuotaSettings {
  const settings = { ...DEFAULT_QUOTAS };
  const problems: string[] = [];
  for (const op of QUOTA_OPERATIONS) {
    const variable = QUOTA_VARIABLES[op];
    const raw = env[variable]?.trim();
    if (!raw) continue;
    const value = Number(raw);
    if (!/^\d+(\.\d+)?$/.test(raw) || !Number.isFinite(value) || value <= 0 || value > 100_000) {
      problems.push(
        `${variable}=${JSON.stringify(raw)} is not a request rate: set it to requests per second > 0 (AWS default ${DEFAULT_QUOTAS[op]}) or unset it`,
      );
      continue;
    }
    settings[op] = value;
  }
  if (problems.length) throw new ConfigError(problems);
  return settings;
}

/** SOLAR_IOT_QUOTA_UTILIZATION, a share in (0, 1]; throws ConfigError naming the fix. */
export function readQuotaUtilization(env: Record<string, string | undefined> = process.env): number {
  const raw = env[UTILIZATION_VARIABLE]?.trim();
  if (!raw) return DEFAULT_UTILIZATION;
  const value = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(raw) || !(value > 0 && value <= 1)) {
    throw new ConfigError([
      `${UTILIZATION_VARIABLE}=${JSON.stringify(raw)} is not a share of the quota: set a number in (0, 1] (default ${DEFAULT_UTILIZATION}) or unset it`,
    ]);
  }
  return value;
}

/** The maxTaskQueueActivitiesPerSecond of each quota queue: quota x utilization. */
export function quotaQueueLimits(quotas: QuotaSettings, utilization: number): QuotaSettings {
  return Object.fromEntries(
    QUOTA_OPERATIONS.map((op) => [op, Math.round(quotas[op] * utilization * 1000) / 1000]),
  ) as QuotaSettings;
}
