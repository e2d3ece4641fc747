/**
 * Per-operation request rates for the quota task queues, from the environment:
 *
 *   SOLAR_IOT_QUOTA_CREATE_POLICY=10     requests per second (fractions allowed), whole fleet
 *
 * One variable per operation (see QUOTA_VARIABLES); unset means the AWS default quota. Raise one
 * only after AWS raised the account's quota. Parsed once at worker start-up.
 */
import { DEFAULT_QUOTAS, QUOTA_OPERATIONS, type QuotaOperation } from './classes.js';

export type QuotaSettings = Record<QuotaOperation, number>;

/** CreatePolicy -> SOLAR_IOT_QUOTA_CREATE_POLICY */
export const QUOTA_VARIABLES: Readonly<Record<QuotaOperation, string>> = Object.fromEntries(
  QUOTA_OPERATIONS.map((op) => [
    op,
    `SOLAR_IOT_QUOTA_${op.replace(/(?<=[a-z])(?=[A-Z])/g, '_').toUpperCase()}`,
  ]),
) as Record<QuotaOperation, string>;

export class QuotaSettingsError extends Error {
  override readonly name = 'QuotaSettingsError';
}

/** Throws QuotaSettingsError, one line per wrong variable, naming it and the fix. */
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
  if (problems.length) throw new QuotaSettingsError(problems.join('\n'));
  return settings;
}
