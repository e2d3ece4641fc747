/** Request and response schemas of the telemetry routes (see ./schemas.ts for the conventions). */
import { z } from 'zod';
import type { DeadLetterDepth } from '../service/dead-letters.js';
import type { PlantTelemetryStatus } from '../service/silence.js';
import {
  DEFAULT_TARGET_BUCKETS,
  type LatestTelemetryView,
  MAX_TELEMETRY_BUCKETS,
  MAX_TELEMETRY_POINTS,
  MAX_TELEMETRY_RANGE_DAYS,
  type TelemetryView,
} from '../service/telemetry.js';

const Name = z.string().min(1).max(128);

export const TelemetryQuery = z
  .object({
    metric: Name.optional().meta({ description: 'One metric only', example: 'power_ac' }),
    device: Name.optional().meta({ description: 'One device only', example: 'inverter-01' }),
    from: z.string().max(64).optional().meta({
      description:
        'Start, inclusive: ISO 8601 with a zone (or a date for UTC midnight). Default: `to` minus 24 hours',
      example: '2024-06-21T00:00:00Z',
    }),
    to: z
      .string()
      .max(64)
      .optional()
      .meta({
        description: `End, exclusive. Default: now. from..to spans at most ${MAX_TELEMETRY_RANGE_DAYS} days`,
        example: '2024-06-22T00:00:00Z',
      }),
    bucket: z
      .string()
      .max(16)
      .optional()
      .meta({
        description: `Bucket size: a whole number and s, m, h or d. Buckets are aligned on multiples of their size since 1970-01-01T00:00Z; from..to may span at most ${MAX_TELEMETRY_BUCKETS} of them. Default: the smallest of 1s..7d giving at most ${DEFAULT_TARGET_BUCKETS}`,
        example: '15m',
      }),
  })
  .strict();

const PointSchema = z.object({
  start: z.string().meta({ description: 'Start of the bucket' }),
  avg: z.number(),
  min: z.number(),
  max: z.number(),
  last: z.number().meta({ description: "The bucket's latest reading" }),
  count: z.number().int().meta({ description: 'Readings in the bucket' }),
});

export const TelemetrySchema = z
  .object({
    plantId: z.string(),
    from: z.string(),
    to: z.string(),
    bucket: z.string().meta({ example: '15m' }),
    bucketSeconds: z.number().int(),
    series: z.array(
      z.object({
        deviceId: z.string(),
        metric: z.string(),
        points: z.array(PointSchema).meta({
          description: `Buckets with readings, in time order (empty ones left out). At most ${MAX_TELEMETRY_POINTS} points per answer`,
        }),
      }),
    ),
  })
  .meta({ id: 'Telemetry' }) satisfies z.ZodType<TelemetryView>;

export const LatestTelemetrySchema = z
  .object({
    plantId: z.string(),
    devices: z.array(
      z.object({
        deviceId: z.string(),
        lastReadingAt: z.string(),
        metrics: z.array(z.object({ metric: z.string(), value: z.number(), timestamp: z.string() })),
      }),
    ),
  })
  .meta({ id: 'LatestTelemetry' }) satisfies z.ZodType<LatestTelemetryView>;

export const PlantTelemetryStatusSchema = z
  .object({
    lastReadingAt: z
      .string()
      .nullable()
      .meta({ description: 'Newest accepted reading of any of its devices; null when it never sent one' }),
    devices: z.array(z.object({ deviceId: z.string(), lastReadingAt: z.string() })),
  })
  .meta({ id: 'PlantTelemetryStatus' }) satisfies z.ZodType<PlantTelemetryStatus>;

export const DeadLetterDepthSchema = z
  .object({
    queueUrl: z.string().meta({ description: 'AWS_SQS_DEAD_LETTER_QUEUE_URL' }),
    messages: z.number().int().meta({
      description: 'ApproximateNumberOfMessages: failed rule deliveries waiting to be looked at',
    }),
    inFlight: z.number().int().meta({
      description: 'ApproximateNumberOfMessagesNotVisible: received by a reader, not yet deleted',
    }),
  })
  .meta({ id: 'DeadLetterDepth' }) satisfies z.ZodType<DeadLetterDepth>;
