/**
 * The messages the ingest consumer quarantined, for the API (and through it the CLI and
 * src/api-client) and the library: their count by reason, bounded pages of them, and their replay
 * after a fix. Listing and replay are src/ingest/quarantine.ts's (today's validation, then the
 * consumer's own write path); this adds the checks and bounds a caller over the network needs.
 */
import type { Db } from '../db/client.js';
import { QUARANTINE_PREFIX_BYTES, QUARANTINE_REASONS, type QuarantineReason } from '../ingest/message.js';
import {
  listQuarantined,
  type QuarantinedMessage,
  type ReplayResult,
  replayQuarantined,
  summarizeQuarantine,
} from '../ingest/quarantine.js';
import { parseOptionsOf, type ValidationSettings } from '../ingest/settings.js';
import { InvalidInputError, mapDbError } from './errors.js';

export type { ReplayOutcome, ReplayResult } from '../ingest/quarantine.js';
export { QUARANTINE_PREFIX_BYTES, QUARANTINE_REASONS, type QuarantineReason };

export const DEFAULT_QUARANTINE_PAGE = 50;
export const MAX_QUARANTINE_PAGE = 500;
/** A page ends once its bodies pass this (each body is at most INGEST_MAX_BODY_BYTES, 1 MiB). */
export const QUARANTINE_PAGE_BODY_BYTES = 4 * 1024 * 1024;
/** Messages one replay call runs through validation and the write path, at most. */
export const MAX_QUARANTINE_REPLAY = 100;

export interface QuarantineReasonCount {
  /** The reason code (QUARANTINE_REASONS; older rows may hold others). */
  reason: string;
  count: number;
  oldest: string;
  newest: string;
}

export interface QuarantineSummary {
  reasons: QuarantineReasonCount[];
}

export type QuarantinedMessageView = Omit<QuarantinedMessage, 'receivedAt'> & { receivedAt: string };

export interface QuarantinePage {
  items: QuarantinedMessageView[];
  /** Pass as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
}

export interface QuarantineListOptions {
  reason?: QuarantineReason | undefined;
  /** Default 50, at most 500; a page also ends after QUARANTINE_PAGE_BODY_BYTES of bodies. */
  limit?: number | undefined;
  /** The id after which the page starts (a previous page's nextCursor). */
  cursor?: string | undefined;
}

/** Either `ids`, or `reason` with an optional `limit` and `cursor`. */
export interface QuarantineReplaySelection {
  ids?: readonly string[] | undefined;
  reason?: QuarantineReason | undefined;
  /** With `reason`: default and most MAX_QUARANTINE_REPLAY. */
  limit?: number | undefined;
  cursor?: string | undefined;
}

export interface QuarantineReplay {
  results: ReplayResult[];
  /** Ids asked for that are not quarantined (never were, or replayed and removed since). */
  missing: string[];
  /** With `reason`: where the next call continues; null when no more messages of it follow. */
  nextCursor: string | null;
}

/** bigint ids as PostgreSQL prints them: "007" and "7" are one row. */
const ID = /^\d{1,18}$/;

function checkId(value: string, what: string): string {
  if (typeof value !== 'string' || !ID.test(value))
    throw new InvalidInputError(`${what} must be a quarantine id: 1 to 18 digits, as a string`);
  return BigInt(value).toString();
}

function checkReason(reason: string | undefined): QuarantineReason | undefined {
  if (reason !== undefined && !(QUARANTINE_REASONS as readonly string[]).includes(reason))
    throw new InvalidInputError(`reason must be one of ${QUARANTINE_REASONS.join(', ')}`);
  return reason as QuarantineReason | undefined;
}

function checkLimit(value: number | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1 || value > max)
    throw new InvalidInputError(`limit must be a whole number from 1 to ${max}`);
  return value;
}

const view = (m: QuarantinedMessage): QuarantinedMessageView => ({
  ...m,
  receivedAt: m.receivedAt.toISOString(),
});

/** Which replay a selection asks for, or the 400 that says what is wrong with it. */
function replayPlan(selection: QuarantineReplaySelection) {
  const { ids, reason, limit, cursor } = selection;
  if ((ids === undefined) === (reason === undefined))
    throw new InvalidInputError('Give either ids (quarantine ids) or reason, not both and not neither');
  if (ids === undefined)
    return {
      reason: checkReason(reason),
      limit: checkLimit(limit, MAX_QUARANTINE_REPLAY, MAX_QUARANTINE_REPLAY),
      after: cursor === undefined ? undefined : checkId(cursor, 'cursor'),
    };
  if (limit !== undefined || cursor !== undefined)
    throw new InvalidInputError('limit and cursor go with reason, not with ids');
  if (!Array.isArray(ids) || ids.length < 1 || ids.length > MAX_QUARANTINE_REPLAY)
    throw new InvalidInputError(`ids must list 1 to ${MAX_QUARANTINE_REPLAY} quarantine ids`);
  return { ids: [...new Set(ids.map((id) => checkId(id, 'each of ids')))] };
}

export function quarantineCalls(db: Db, validation: ValidationSettings) {
  const pool = db.$client;
  return {
    /** Quarantined messages counted by reason code, with the oldest and newest of each. */
    async getQuarantineSummary(): Promise<QuarantineSummary> {
      try {
        const reasons = await summarizeQuarantine(pool);
        return {
          reasons: reasons.map((r) => ({
            ...r,
            oldest: r.oldest.toISOString(),
            newest: r.newest.toISOString(),
          })),
        };
      } catch (error) {
        throw mapDbError(error);
      }
    },

    /** One page of quarantined messages in id order (all reasons, or one), bodies as stored. */
    async listQuarantinedMessages(options: QuarantineListOptions = {}): Promise<QuarantinePage> {
      const reason = checkReason(options.reason);
      const limit = checkLimit(options.limit, DEFAULT_QUARANTINE_PAGE, MAX_QUARANTINE_PAGE);
      const after = options.cursor === undefined ? undefined : checkId(options.cursor, 'cursor');
      try {
        const page = await listQuarantined(pool, {
          reason,
          after,
          limit,
          bodyBudget: QUARANTINE_PAGE_BODY_BYTES,
        });
        return {
          items: page.messages.map(view),
          nextCursor: page.more ? (page.messages.at(-1)?.id ?? null) : null,
        };
      } catch (error) {
        throw mapDbError(error);
      }
    },

    /**
     * Runs the selected messages through the consumer's validation of today (INGEST_MAX_BODY_BYTES,
     * INGEST_MAX_FUTURE_SECONDS of this process) and stores those that pass through its write path,
     * deleting their rows in the same transaction; the others keep their row with today's reason.
     */
    async replayQuarantined(selection: QuarantineReplaySelection): Promise<QuarantineReplay> {
      const plan = replayPlan(selection);
      const { ids } = plan;
      try {
        const page = await listQuarantined(
          pool,
          ids ? { ids, limit: ids.length } : { ...plan, bodyBudget: QUARANTINE_PAGE_BODY_BYTES },
        );
        const results = await replayQuarantined(pool, page.messages, parseOptionsOf(validation));
        const found = new Set(page.messages.map((m) => m.id));
        return {
          results,
          missing: ids?.filter((id) => !found.has(id)) ?? [],
          nextCursor: page.more ? (page.messages.at(-1)?.id ?? null) : null,
        };
      } catch (error) {
        throw mapDbError(error);
      }
    },
  };
}
