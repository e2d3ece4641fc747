/**
 * One zod schema per shared variable, and how to fix a wrong value. Input: the trimmed string,
 * or undefined when unset or empty.
 */
import { z } from 'zod';
import {
  CERTIFICATE_MODES,
  LOG_LEVELS,
  MIN_ENCRYPTION_KEY_LENGTH,
  POLICY_MODES,
  TOPIC_RULE_MODES,
} from './types.js';

export const GENERATE_KEY_HINT = `node -e "console.log(require('node:crypto').randomBytes(32).toString('hex'))"`;

/** Values people paste from examples; refused even though they are long enough. */
const PLACEHOLDER_KEYS = new Set([
  'your-32-character-encryption-key-here',
  'change-me-to-a-random-string-of-32-chars',
  'changeme-changeme-changeme-changeme',
]);

const boolean = (def: boolean) =>
  z
    .string()
    .toLowerCase()
    .pipe(z.enum(['true', 'false', '1', '0'], { error: 'is not a boolean (accepted: true, false, 1, 0)' }))
    .transform((v) => v === 'true' || v === '1')
    .default(def);

const httpUrl = (what: string) =>
  z.string().refine(
    (v) => {
      try {
        const u = new URL(v);
        return u.protocol === 'https:' || u.protocol === 'http:';
      } catch {
        return false;
      }
    },
    { error: `is not an http(s) URL${what}` },
  );

const AWS_REGION_RE = /^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$/;
export const ATS_HOST_RE = /^[a-z0-9]+-ats\.iot\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/;
const HOSTNAME_RE =
  /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*(:\d{1,5})?$/;
const ROLE_ARN_RE = /^arn:aws(-cn|-us-gov|-iso|-iso-b)?:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;

export interface VarSpec {
  schema: z.ZodType<unknown, string | undefined>;
  fix: string;
}

export const SPECS = {
  AWS_REGION: {
    schema: z.string().regex(AWS_REGION_RE, { error: 'is not an AWS region code' }).default('us-east-1'),
    fix: 'use a region code such as us-east-1 or eu-west-1 (or unset it for us-east-1)',
  },
  AWS_IOT_ENDPOINT: {
    schema: z
      .string()
      .refine((v) => !v.includes('://'), { error: 'must be a bare host name, not a URL' })
      .transform((v) => v.toLowerCase())
      .refine((v) => HOSTNAME_RE.test(v), { error: 'is not a host name' })
      .refine((v) => !/\.iot\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$/.test(v) || ATS_HOST_RE.test(v), {
        error: 'is a legacy (VeriSign) endpoint, not the ATS endpoint',
      })
      .optional(),
    fix: 'copy the host from `aws iot describe-endpoint --endpoint-type iot:Data-ATS` (xxx-ats.iot.<region>.amazonaws.com), without https://',
  },
  AWS_IOT_ROLE_ARN: {
    schema: z.string().regex(ROLE_ARN_RE, { error: 'is not an IAM role ARN' }).optional(),
    fix: 'use the ARN of the role the IoT rule assumes, e.g. arn:aws:iam::123456789012:role/IoTToSQSRole',
  },
  AWS_SQS_QUEUE_URL: {
    schema: httpUrl('').optional(),
    fix: 'use the queue URL shown by `aws sqs get-queue-url`, e.g. https://sqs.us-east-1.amazonaws.com/123456789012/solar-plant-data',
  },
  AWS_SQS_DEAD_LETTER_QUEUE_URL: {
    schema: httpUrl('')
      .refine((v) => !v.endsWith('.fifo'), {
        error: "is a FIFO queue, but an AWS IoT rule's error action only delivers to standard queues",
      })
      .optional(),
    fix: "use the URL of a standard queue for the telemetry rule's failed deliveries, or unset it for the telemetry queue's name with -dlq (e.g. https://sqs.us-east-1.amazonaws.com/123456789012/solar-plant-data-dlq)",
  },
  AWS_ENDPOINT_URL: {
    schema: httpUrl('').optional(),
    fix: 'unset it for real AWS, or point it at the emulator, e.g. http://127.0.0.1:5000',
  },
  ENCRYPTION_KEY: {
    schema: z
      .string()
      .refine((v) => v.length >= MIN_ENCRYPTION_KEY_LENGTH, {
        error: `is shorter than ${MIN_ENCRYPTION_KEY_LENGTH} characters`,
      })
      .refine((v) => !PLACEHOLDER_KEYS.has(v), { error: 'is the placeholder from the documentation' })
      .refine((v) => new Set(v).size >= 8, { error: 'has fewer than 8 distinct characters' })
      .optional(),
    fix: `set it to at least ${MIN_ENCRYPTION_KEY_LENGTH} random characters; generate one with ${GENERATE_KEY_HINT}`,
  },
  ENCRYPTION_KEYS_PREVIOUS: {
    schema: z
      .string()
      .transform((v) => v.split(',').map((k) => k.trim()))
      .superRefine((keys, ctx) => {
        keys.forEach((k, i) => {
          if (k.length < MIN_ENCRYPTION_KEY_LENGTH) {
            ctx.addIssue({
              code: 'custom',
              message: `entry ${i + 1} of ${keys.length} is ${k.length === 0 ? 'empty' : `shorter than ${MIN_ENCRYPTION_KEY_LENGTH} characters`}`,
            });
          }
        });
      })
      .transform((keys) => [...new Set(keys)])
      .default([]),
    fix: `list the old keys separated by commas (no empty entries), each at least ${MIN_ENCRYPTION_KEY_LENGTH} characters, or unset it`,
  },
  USE_AWS_IOT: {
    schema: boolean(true),
    fix: 'set USE_AWS_IOT=true to provision plants in AWS IoT, or USE_AWS_IOT=false to disable it',
  },
  USE_MOCK_DATA: {
    schema: boolean(false),
    fix: 'set USE_MOCK_DATA=true for fake IoT resources without AWS, or USE_MOCK_DATA=false',
  },
  LOG_LEVEL: {
    schema: z
      .string()
      .toLowerCase()
      .pipe(z.enum(LOG_LEVELS, { error: 'is not a log level' }))
      .default('info'),
    fix: `use one of ${LOG_LEVELS.join(', ')}`,
  },
  DATABASE_URL: {
    schema: z
      .string()
      .refine(
        (v) => {
          try {
            const u = new URL(v);
            return (u.protocol === 'postgres:' || u.protocol === 'postgresql:') && u.hostname !== '';
          } catch {
            return false;
          }
        },
        { error: 'is not a PostgreSQL URL' },
      )
      .optional(),
    fix: 'use postgres://USER:PASSWORD@HOST:5432/DATABASE (percent-encode special characters in the password), or unset it to use the embedded PostgreSQL',
  },
  PORT: {
    schema: z
      .string()
      .regex(/^\d+$/, { error: 'is not a whole number' })
      .transform(Number)
      .pipe(z.number().int().min(1, { error: 'is out of range' }).max(65535, { error: 'is out of range' }))
      .default(3000),
    fix: 'use a TCP port between 1 and 65535 (default 3000)',
  },
  TEMPORAL_TASK_QUEUE: {
    schema: z
      .string()
      .regex(/^[^\s]{1,200}$/, { error: 'contains whitespace or is longer than 200 characters' })
      .default('solar-iot'),
    fix: 'use a name without spaces, e.g. solar-iot (the default)',
  },
  CERTIFICATE_MODE: {
    schema: z.enum(CERTIFICATE_MODES, { error: 'is not a certificate mode' }).default('csr'),
    fix: 'use csr (key generated and stored encrypted before AWS signs it; default) or create-keys (CreateKeysAndCertificate)',
  },
  TOPIC_RULE_MODE: {
    schema: z.enum(TOPIC_RULE_MODES, { error: 'is not a topic rule mode' }).default('shared'),
    fix: 'use shared (one rule on solar/+/data; default) or per-plant (one rule per plant, limited to 1000 per account)',
  },
  POLICY_MODE: {
    schema: z.enum(POLICY_MODES, { error: 'is not a policy mode' }).default('shared'),
    fix: 'use shared (one policy with thing policy variables for every plant; default) or per-plant (one policy per plant, as the seed did)',
  },
  TEMPORAL_ADDRESS: {
    schema: z
      .string()
      .refine((v) => !v.includes('://'), { error: 'must be host:port, not a URL' })
      .refine((v) => /^[^\s/]+:\d{1,5}$/.test(v), { error: 'is not host:port' })
      .optional(),
    fix: 'use host:port, e.g. localhost:7233 or my-ns.a1b2c.tmprl.cloud:7233, or unset it to use the local dev server',
  },
  TEMPORAL_TLS: {
    schema: boolean(false).optional(),
    fix: 'set TEMPORAL_TLS=true or TEMPORAL_TLS=false',
  },
} satisfies Record<string, VarSpec>;

type Specs = typeof SPECS;
export type Parsed = { [K in keyof Specs]: z.output<Specs[K]['schema']> };

/**
 * Former names of variables. Set, a former name would be ignored without a word (a report on the
 * default while the operator believes it runs on theirs), so start-up refuses it and names the new one.
 */
export const RENAMED_VARIABLES: Readonly<Record<string, string>> = {
  ROTATION_MAX_AGE_DAYS: 'CERTIFICATE_MAX_AGE_DAYS',
};
