/**
 * Environment of the payload codec and its HTTP server, parsed once. Every error is one line that
 * names the variable, says what is wrong and how to fix it, and never echoes a key or token.
 *
 *   TEMPORAL_CODEC_KEYS   `<id>:<key>[,<id>:<key>...]`, first = encrypts, all = decrypt. A key is
 *                         32 bytes as 64 hex characters or base64. Unset: one key per
 *                         ENCRYPTION_KEY / ENCRYPTION_KEYS_PREVIOUS entry is derived (see keys.ts).
 *   CODEC_SERVER_TOKEN    bearer token of the codec server, at least 32 characters (server only).
 *   CODEC_SERVER_TOKEN_FILE  or a file holding it, created with a random token if missing (local stack).
 *   CODEC_SERVER_PORT     default 8234 (next to the Web UI's 8233).
 *   CODEC_SERVER_HOST     default 127.0.0.1.
 *   CODEC_CORS_ORIGINS    Web UI origins allowed to call it, comma separated; default http://localhost:8233.
 *   CODEC_SERVER_ALLOW_ENCODE  `true` serves POST /encode (the Web UI's start/signal forms need it);
 *                         default `false`: an encoder would let anyone who reads the token from the
 *                         Web UI encrypt inputs the worker runs (server.ts).
 *   TEMPORAL_ALLOW_PLAIN_PAYLOADS  `true` lets the worker run payloads that are not encrypted (a
 *                         migration from unencrypted histories); default `false`: refused.
 *   TEMPORAL_ALLOW_UNBOUND_PAYLOADS  `true` lets the worker run encrypted payloads that are not
 *                         bound to their workflow (written before the binding, payload-codec.ts);
 *                         default `false`: refused.
 */
import { ConfigError, deepFreeze, type Env, readAll } from '../config/index.js';

export const DEFAULT_CODEC_SERVER_PORT = 8234;
export const DEFAULT_UI_ORIGIN = 'http://localhost:8233';
export const MIN_TOKEN_LENGTH = 32;
export const CODEC_KEY_BYTES = 32;
const KEY_ID_RE = /^[A-Za-z0-9._-]{1,64}$/;
const GENERATE_HINT = `node -e "console.log('k1:'+require('node:crypto').randomBytes(32).toString('base64'))"`;

/** A payload key: `id` is public (it travels in payload metadata), `key` is 32 secret bytes. */
export interface CodecKey {
  readonly id: string;
  readonly key: Buffer;
}

function value(env: Env, name: string): string | undefined {
  const v = env[name]?.trim();
  return v ? v : undefined;
}

function decodeKey(text: string): Buffer | undefined {
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) return undefined;
  const bytes = Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  return bytes.length === CODEC_KEY_BYTES ? bytes : undefined;
}

/** TEMPORAL_CODEC_KEYS, or undefined when it is not set. Throws ConfigError. */
export function parseCodecKeys(env: Env = process.env): CodecKey[] | undefined {
  const raw = value(env, 'TEMPORAL_CODEC_KEYS');
  if (raw === undefined) return undefined;
  const entries = raw.split(',').map((e) => e.trim());
  const lines: string[] = [];
  const keys: CodecKey[] = [];
  const fix = `use <id>:<32 random bytes as base64 or 64 hex>, comma separated, current key first (generate one with ${GENERATE_HINT})`;
  entries.forEach((entry, i) => {
    const where = `entry ${i + 1} of ${entries.length}`;
    const colon = entry.indexOf(':');
    const id = colon > 0 ? entry.slice(0, colon) : '';
    if (!KEY_ID_RE.test(id)) {
      lines.push(
        `TEMPORAL_CODEC_KEYS: ${where} has no valid key id before ":" (letters, digits, . _ -; at most 64). Fix: ${fix}`,
      );
      return;
    }
    const key = decodeKey(entry.slice(colon + 1));
    if (!key) {
      lines.push(
        `TEMPORAL_CODEC_KEYS: ${where} (key id "${id}") is not ${CODEC_KEY_BYTES} bytes of base64 or hex (value hidden, ${entry.length - colon - 1} characters). Fix: ${fix}`,
      );
      return;
    }
    if (keys.some((k) => k.id === id)) {
      lines.push(`TEMPORAL_CODEC_KEYS: key id "${id}" appears twice. Fix: give every key its own id`);
      return;
    }
    keys.push({ id, key });
  });
  if (lines.length) throw new ConfigError(lines);
  return keys;
}

export interface CodecServerSettings {
  host: string;
  port: number;
  token: string;
  corsOrigins: string[];
  allowEncode: boolean;
}

/** The codec server's own variables (the keys are read by `parseCodecKeys`). */
export function readCodecServerSettings(env: Env = process.env): CodecServerSettings {
  const lines: string[] = [];
  const token = value(env, 'CODEC_SERVER_TOKEN');
  if (!token) {
    lines.push(
      `CODEC_SERVER_TOKEN: is not set; the codec server decrypts workflow data and never runs open. Fix: set it to at least ${MIN_TOKEN_LENGTH} random characters (openssl rand -hex 32)`,
    );
  } else if (token.length < MIN_TOKEN_LENGTH) {
    lines.push(
      `CODEC_SERVER_TOKEN: is ${token.length} characters long; at least ${MIN_TOKEN_LENGTH} are required. Fix: openssl rand -hex 32`,
    );
  } else if (!/^[A-Za-z0-9._~+/=-]+$/.test(token)) {
    lines.push(
      'CODEC_SERVER_TOKEN: contains characters a bearer token or URL path cannot carry. Fix: use letters, digits and - . _ ~ only',
    );
  }
  const portText = value(env, 'CODEC_SERVER_PORT');
  const port = portText === undefined ? DEFAULT_CODEC_SERVER_PORT : Number(portText);
  if (!/^\d+$/.test(portText ?? '1') || !Number.isInteger(port) || port < 0 || port > 65535) {
    lines.push(
      `CODEC_SERVER_PORT: ${JSON.stringify(portText)} is not a TCP port. Fix: use 0-65535 (default ${DEFAULT_CODEC_SERVER_PORT})`,
    );
  }
  const corsOrigins = (value(env, 'CODEC_CORS_ORIGINS') ?? DEFAULT_UI_ORIGIN)
    .split(',')
    .map((o) => o.trim())
    .filter(Boolean);
  for (const origin of corsOrigins) {
    let ok = false;
    try {
      const u = new URL(origin);
      ok = (u.protocol === 'http:' || u.protocol === 'https:') && u.origin === origin;
    } catch {}
    if (!ok) {
      lines.push(
        `CODEC_CORS_ORIGINS: ${JSON.stringify(origin.slice(0, 80))} is not an origin. Fix: scheme://host[:port] without a path, e.g. ${DEFAULT_UI_ORIGIN}`,
      );
    }
  }
  const encodeText = value(env, 'CODEC_SERVER_ALLOW_ENCODE') ?? 'false';
  if (encodeText !== 'true' && encodeText !== 'false') {
    lines.push(
      `CODEC_SERVER_ALLOW_ENCODE: ${JSON.stringify(encodeText.slice(0, 20))} is neither true nor false. Fix: unset it (POST /encode refused), or true to let token holders encrypt payloads`,
    );
  }
  if (lines.length) throw new ConfigError(lines);
  return {
    host: value(env, 'CODEC_SERVER_HOST') ?? '127.0.0.1',
    port,
    token: token as string,
    corsOrigins,
    allowEncode: encodeText === 'true',
  };
}

/** TEMPORAL_ALLOW_PLAIN_PAYLOADS (worker): `true`/`false`, default false. Throws ConfigError. */
export function readAllowPlainPayloads(env: Env = process.env): boolean {
  const raw = value(env, 'TEMPORAL_ALLOW_PLAIN_PAYLOADS');
  if (raw === undefined || raw === 'false') return false;
  if (raw === 'true') return true;
  throw new ConfigError([
    `TEMPORAL_ALLOW_PLAIN_PAYLOADS: ${JSON.stringify(raw.slice(0, 20))} is neither true nor false. Fix: unset it (unencrypted payloads are refused), or set it to true only while migrating from unencrypted histories`,
  ]);
}

/** TEMPORAL_ALLOW_UNBOUND_PAYLOADS (worker): `true`/`false`, default false. Throws ConfigError. */
export function readAllowUnboundPayloads(env: Env = process.env): boolean {
  const raw = value(env, 'TEMPORAL_ALLOW_UNBOUND_PAYLOADS');
  if (raw === undefined || raw === 'false') return false;
  if (raw === 'true') return true;
  throw new ConfigError([
    `TEMPORAL_ALLOW_UNBOUND_PAYLOADS: ${JSON.stringify(raw.slice(0, 20))} is neither true nor false. Fix: unset it (payloads not bound to their workflow are refused), or set it to true only while workflows started before the upgrade are open`,
  ]);
}

/** What a process that writes or reads workflow payloads configures: TEMPORAL_CODEC_KEYS. */
export interface PayloadCodecSettings {
  /** undefined: derived from ENCRYPTION_KEY (keys.ts). */
  readonly keys: readonly CodecKey[] | undefined;
}

/** The worker's: the keys, and which payloads it runs although they are not encrypted or bound. */
export interface WorkerCodecSettings extends PayloadCodecSettings {
  readonly allowPlain: boolean;
  readonly allowUnbound: boolean;
}

/** Throws one ConfigError naming every wrong codec variable. */
export function readPayloadCodecSettings(env: Env = process.env): PayloadCodecSettings {
  return deepFreeze({ keys: parseCodecKeys(env) });
}

/** Throws one ConfigError naming every wrong codec variable of the worker. */
export function readWorkerCodecSettings(env: Env = process.env): WorkerCodecSettings {
  const [keys, allowPlain, allowUnbound] = readAll([
    () => parseCodecKeys(env),
    () => readAllowPlainPayloads(env),
    () => readAllowUnboundPayloads(env),
  ] as const);
  return deepFreeze({ keys, allowPlain, allowUnbound });
}
