/**
 * Logging: one pino logger for the process.
 *
 * - JSON lines when stdout is not a terminal; pino-pretty (a devDependency, loaded only if
 *   installed) on a terminal, falling back to JSON.
 * - Key material is redacted by path (`REDACT_PATHS`), at any depth up to `REDACT_DEPTH`.
 * - `serializeError` keeps an allow-list of fields and scrubs PEM blocks and URL passwords.
 * - `installTemporalLogger` (in `./temporal.js`, kept apart so importing the logger does not load
 *   Temporal's native bridge) routes the Temporal runtime into pino.
 */
import { createRequire } from 'node:module';
import { type DestinationStream, type LevelWithSilent, type Logger, pino } from 'pino';

export type { Logger } from 'pino';

/** Property names whose values are never logged, wherever they appear. */
export const SECRET_KEYS = [
  'privateKey',
  'PrivateKey',
  'private_key',
  'privateKeyPem',
  'keyPem',
  'keyPair',
  'certificatePem',
  'certificate_pem',
  'encryptedPrivateKey',
  'encrypted_private_key',
  'ENCRYPTION_KEY',
  'ENCRYPTION_KEYS_PREVIOUS',
  'encryptionKey',
  'currentKey',
  'previousKeys',
  'plaintext',
  'decrypted',
  'password',
  'passwd',
  'secret',
  'secretAccessKey',
  'AWS_SECRET_ACCESS_KEY',
  'sessionToken',
  'AWS_SESSION_TOKEN',
  'apiKey',
  'TEMPORAL_API_KEY',
  'TEMPORAL_CODEC_KEYS',
  'CODEC_SERVER_TOKEN',
  'API_TOKEN',
  'token',
  'authorization',
  'Authorization',
  'cookie',
  'x-api-key',
  'connectionString',
  'DATABASE_URL',
  'databaseUrl',
] as const;

/** How many levels of nesting the wildcard paths cover (`a.b.c.privateKey` is depth 3). */
export const REDACT_DEPTH = 4;

const segment = (key: string) => (/^[A-Za-z_$][\w$]*$/.test(key) ? key : `["${key}"]`);
const join = (prefix: string, key: string) => {
  const s = segment(key);
  return prefix === '' ? s : s.startsWith('[') ? `${prefix}${s}` : `${prefix}.${s}`;
};

/** pino/fast-redact paths: every secret key at the top level and under 1..REDACT_DEPTH wildcards. */
export const REDACT_PATHS: readonly string[] = SECRET_KEYS.flatMap((key) =>
  Array.from({ length: REDACT_DEPTH + 1 }, (_, depth) =>
    join(Array.from({ length: depth }, () => '*').join('.'), key),
  ),
);

export const REDACTED = '[redacted]';

export interface CreateLoggerOptions {
  level?: LevelWithSilent;
  /** Default: pretty when stdout is a TTY and pino-pretty is installed. */
  pretty?: boolean;
  /** Write somewhere else than stdout (tests). */
  destination?: DestinationStream;
  /** Fields on every line, e.g. `{ service: 'worker' }`. */
  base?: Record<string, unknown>;
}

const require = createRequire(import.meta.url);

function prettyStream(): DestinationStream | undefined {
  try {
    const pretty = require('pino-pretty') as (opts: Record<string, unknown>) => DestinationStream;
    return pretty({ colorize: true, sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' });
  } catch {
    return undefined; // not installed (production install without devDependencies): JSON
  }
}

export function createLogger(options: CreateLoggerOptions = {}): Logger {
  const wantPretty = options.pretty ?? (options.destination === undefined && process.stdout.isTTY === true);
  const stream = options.destination ?? (wantPretty ? prettyStream() : undefined) ?? pino.destination(1);
  return pino(
    {
      level: options.level ?? 'info',
      base: { pid: process.pid, ...options.base },
      redact: { paths: [...REDACT_PATHS], censor: REDACTED },
      serializers: { err: serializeError, error: serializeError },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    stream,
  );
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

const PEM_RE = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?(-----END \1-----|$)/g;
const URL_PASSWORD_RE = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@]+):[^\s@/]+@/gi;

/** Removes PEM blocks (keys and certificates) and URL passwords from free text. */
export function scrubSecrets(text: string): string {
  return text.replace(PEM_RE, '[redacted $1]').replace(URL_PASSWORD_RE, '$1:***@');
}

export interface SerializedError {
  type: string;
  message: string;
  code?: string | number;
  /** HTTP status of AWS SDK errors. */
  statusCode?: number;
  /** AWS request id, to find the call in CloudTrail. */
  requestId?: string;
  /** pg: constraint name, e.g. raw_mqtt_data_message_id_idx. */
  constraint?: string;
  nonRetryable?: boolean;
  stack?: string;
  cause?: SerializedError;
}

/**
 * A log-safe view of an error: an allow-list of fields (never `$response`, pg `parameters`,
 * request bodies...), with PEM blocks and URL passwords scrubbed from message and stack.
 */
export function serializeError(err: unknown, depth = 0): SerializedError {
  const errorLike =
    err instanceof Error ||
    (typeof err === 'object' && err !== null && typeof (err as { message?: unknown }).message === 'string');
  if (!errorLike) {
    const text = typeof err === 'string' ? err : (safeString(err) ?? 'unknown error');
    return { type: typeof err, message: scrubSecrets(text) };
  }
  // An Error, or an object already shaped like one (e.g. serialized once by the Temporal logger).
  const e = err as Error & {
    code?: unknown;
    $metadata?: { httpStatusCode?: number; requestId?: string };
    statusCode?: unknown;
    requestId?: unknown;
    constraint?: unknown;
    nonRetryable?: unknown;
    type?: unknown;
  };
  const out: SerializedError = {
    type: (err instanceof Error ? e.name : typeof e.type === 'string' ? e.type : e.name) || 'Error',
    message: scrubSecrets(String(e.message)),
  };
  if (typeof e.code === 'string' || typeof e.code === 'number') out.code = e.code;
  const status = e.$metadata?.httpStatusCode ?? e.statusCode;
  if (typeof status === 'number') out.statusCode = status;
  const requestId = e.$metadata?.requestId ?? e.requestId;
  if (typeof requestId === 'string') out.requestId = requestId;
  if (typeof e.constraint === 'string') out.constraint = e.constraint;
  if (typeof e.nonRetryable === 'boolean') out.nonRetryable = e.nonRetryable;
  if (typeof e.stack === 'string') out.stack = scrubSecrets(e.stack);
  if (e.cause !== undefined && e.cause !== null && depth < 5) out.cause = serializeError(e.cause, depth + 1);
  return out;
}

function safeString(v: unknown): string | undefined {
  try {
    return JSON.stringify(v);
  } catch {
    return undefined;
  }
}
