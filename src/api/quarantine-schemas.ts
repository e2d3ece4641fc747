/** Schemas of the quarantine routes (see ./schemas.ts for the conventions). */
import { z } from 'zod';
import {
  DEFAULT_QUARANTINE_PAGE,
  MAX_QUARANTINE_PAGE,
  MAX_QUARANTINE_REPLAY,
  QUARANTINE_PAGE_BODY_BYTES,
  QUARANTINE_PREFIX_BYTES,
  QUARANTINE_REASONS,
  type QuarantinePage,
  type QuarantineReplay,
  type QuarantineSummary,
} from '../service/quarantine.js';

const QuarantineId = z
  .string()
  .regex(/^\d{1,18}$/, { error: 'a quarantine id is 1 to 18 digits' })
  .meta({ description: 'A quarantine row id (digits, as a string)', example: '41' });

const Reason = z.enum(QUARANTINE_REASONS).meta({ description: 'A quarantine reason code' });

export const QuarantineMessagesQuery = z
  .object({
    reason: Reason.optional().meta({ description: 'Only messages of this reason; all reasons when omitted' }),
    limit: z.coerce
      .number()
      .int()
      .min(1)
      .max(MAX_QUARANTINE_PAGE)
      .optional()
      .meta({
        description: `Messages per page (default ${DEFAULT_QUARANTINE_PAGE}); a page also ends once its bodies pass ${QUARANTINE_PAGE_BODY_BYTES} bytes`,
      }),
    cursor: QuarantineId.optional().meta({
      description: "Start after this id: the previous page's nextCursor",
    }),
  })
  .strict();

export const QuarantineReplayBody = z
  .object({
    ids: z
      .array(QuarantineId)
      .min(1)
      .max(MAX_QUARANTINE_REPLAY)
      .optional()
      .meta({ description: 'These quarantined messages (ids from the messages route)' }),
    reason: Reason.optional().meta({
      description: 'Instead of ids: the messages of this reason, oldest first',
    }),
    limit: z
      .number()
      .int()
      .min(1)
      .max(MAX_QUARANTINE_REPLAY)
      .optional()
      .meta({ description: `With reason: at most this many (default ${MAX_QUARANTINE_REPLAY})` }),
    cursor: QuarantineId.optional().meta({
      description: "With reason: start after this id (the previous answer's nextCursor)",
    }),
  })
  .strict();

export const QuarantineSummarySchema = z
  .object({
    reasons: z.array(
      z.object({
        reason: z.string(),
        count: z.number().int(),
        oldest: z.string().meta({ description: 'When the oldest of them was quarantined' }),
        newest: z.string(),
      }),
    ),
  })
  .meta({ id: 'QuarantineSummary' }) satisfies z.ZodType<QuarantineSummary>;

export const QuarantinePageSchema = z
  .object({
    items: z.array(
      z.object({
        id: z.string(),
        messageId: z.string().nullable().meta({ description: 'The SQS message id' }),
        reason: z.string(),
        detail: z.string().meta({ description: 'What the validation found' }),
        receivedAt: z.string(),
        bodyBytes: z.number().int().meta({ description: 'Size of the whole body as received' }),
        bodySha256: z.string(),
        truncated: z.boolean().meta({
          description: 'Only a prefix of an oversized body was kept: it cannot be replayed',
        }),
        body: z.string().meta({
          description: `The body as stored (when truncated, its first ${QUARANTINE_PREFIX_BYTES} bytes)`,
        }),
      }),
    ),
    nextCursor: z
      .string()
      .nullable()
      .meta({ description: 'Pass as `cursor` for the next page; null on the last page' }),
  })
  .meta({ id: 'QuarantinePage' }) satisfies z.ZodType<QuarantinePage>;

export const QuarantineReplaySchema = z
  .object({
    results: z.array(
      z.object({
        id: z.string(),
        result: z.enum(['stored', 'duplicate', 'still_invalid', 'not_replayable']).meta({
          description:
            'stored: valid now, written and removed from the quarantine; duplicate: valid, the tables had it, removed; still_invalid: stays, with the reason of today; not_replayable: only a prefix was kept',
        }),
        reason: z
          .string()
          .nullable()
          .meta({ description: 'The row\'s reason now ("code: detail"); null once removed' }),
      }),
    ),
    missing: z.array(z.string()).meta({ description: 'Ids asked for that are not quarantined' }),
    nextCursor: z.string().nullable().meta({
      description: 'With reason: pass as `cursor` to continue; null when no more messages of it follow',
    }),
  })
  .meta({ id: 'QuarantineReplay' }) satisfies z.ZodType<QuarantineReplay>;
