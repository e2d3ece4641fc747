/**
 * The environment of each process `npm start` runs: built from an allow-list per process, never
 * inherited whole, so a process holds only the secrets its job needs.
 *
 *   worker   everything the configuration knows, ENCRYPTION_KEY included: it creates and reads
 *            the stored device private keys, and encrypts workflow payloads
 *   api      Temporal (with TEMPORAL_CODEC_KEYS: it starts workflows with encrypted arguments),
 *            the database, AWS, API_*, the consumer's INGEST_MAX_BODY_BYTES and
 *            INGEST_MAX_FUTURE_SECONDS (quarantine replay); no ENCRYPTION_KEY (no route decrypts a
 *            stored key)
 *            (both also OTEL_*: traces, when the shell sets OTEL_EXPORTER_OTLP_ENDPOINT)
 *   ingest   SQS and the database, INGEST_* and METRICS_*; no Temporal, no key
 *   codec    TEMPORAL_CODEC_KEYS and its CODEC_* settings; no AWS, no database
 *
 * An entry ending in `*` is a prefix. Secrets travel in the environment only (never argv: `ps`
 * shows command lines to every local user; /proc/<pid>/environ only to the process' owner).
 */

import { TEMPORAL_CONNECTION } from '../../src/app/stack-state.js';

export type AppName = 'worker' | 'api' | 'ingest' | 'codec';

/**
 * The servers under the app (Temporal dev server, PostgreSQL, moto) get RUNTIME only (plus what
 * components.ts sets for each): none of them needs a secret of ours or of the user's shell.
 */

/** What any Node process needs to run at all, and the knobs that change no privilege. */
const RUNTIME = [
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'SHELL',
  'TERM',
  'LANG',
  'LC_*',
  'TZ',
  'TMPDIR',
  'NODE_ENV',
  'NODE_OPTIONS',
  'NODE_EXTRA_CA_CERTS',
  'FORCE_COLOR',
  'NO_COLOR',
  'LOG_LEVEL',
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'NO_PROXY',
  'http_proxy',
  'https_proxy',
  'no_proxy',
];

/** The IoT configuration the service layer reads (src/config). */
const IOT = ['USE_AWS_IOT', 'USE_MOCK_DATA', 'CERTIFICATE_MODE', 'TOPIC_RULE_MODE', 'POLICY_MODE'];

export const CHILD_ENV_ALLOW_LIST: Readonly<Record<AppName, readonly string[]>> = {
  worker: [
    ...RUNTIME,
    ...IOT,
    'TEMPORAL_*',
    'AWS_*',
    'DATABASE_URL',
    'ENCRYPTION_KEY',
    'ENCRYPTION_KEYS_PREVIOUS',
    'ROTATION_*',
    'SOLAR_IOT_*',
    'WORKER_METRICS_*',
  ],
  api: [
    ...RUNTIME,
    ...IOT,
    'TEMPORAL_*',
    'AWS_*',
    'DATABASE_URL',
    'PORT',
    'API_*',
    // The consumer's validation, which quarantine replays through the API use too.
    'INGEST_MAX_BODY_BYTES',
    'INGEST_MAX_FUTURE_SECONDS',
    'SOLAR_IOT_FAULTS',
    'OTEL_*',
  ],
  ingest: [...RUNTIME, 'AWS_*', 'DATABASE_URL', 'INGEST_*', 'METRICS_*', 'SOLAR_IOT_FAULTS'],
  codec: [...RUNTIME, 'TEMPORAL_CODEC_KEYS', 'CODEC_*'],
};

/** `env` reduced to what any process needs to run (RUNTIME): for the infrastructure servers. */
export function runtimeEnvironment(
  env: Readonly<Record<string, string | undefined>>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && matches(RUNTIME, k)) out[k] = v;
  return out;
}

function matches(list: readonly string[], variable: string): boolean {
  return list.some((entry) =>
    entry.endsWith('*') ? variable.startsWith(entry.slice(0, -1)) : variable === entry,
  );
}

/** Variables no child gets although a prefix above matches them: `npm start`'s own settings. */
const NEVER = new Set([
  'SOLAR_IOT_DATA_DIR',
  'SOLAR_IOT_REAL_AWS',
  'TEMPORAL_PORT',
  'TEMPORAL_UI_PORT',
  'POSTGRES_PORT',
  'MOTO_PORT',
]);

export function allowed(app: AppName, variable: string): boolean {
  if (NEVER.has(variable)) return false;
  return matches(CHILD_ENV_ALLOW_LIST[app], variable);
}

/** The variables of `env` that `app` may see (undefined values dropped). */
export function childEnvironment(
  app: AppName,
  env: Readonly<Record<string, string | undefined>>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && allowed(app, k)) out[k] = v;
  return out;
}

/** What withLocalTemporal's config file holds: a default profile that sets nothing. */
export const LOCAL_TEMPORAL_CONFIG =
  '# Written by npm start: the Temporal client config of its children (its own dev server).\n[profile.default]\n';

/**
 * `env` for children of a stack that runs its own Temporal dev server at `address`: the user's
 * connection settings dropped, and the Temporal config file (default ~/.config/temporalio/
 * temporal.toml, whose default profile the SDK would apply: an API key, TLS) replaced by
 * `configFile`, which holds LOCAL_TEMPORAL_CONFIG.
 */
export function withLocalTemporal(
  env: Readonly<Record<string, string | undefined>>,
  address: string,
  configFile: string,
): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(env)) if (!TEMPORAL_CONNECTION.test(k)) out[k] = v;
  return { ...out, TEMPORAL_ADDRESS: address, TEMPORAL_CONFIG_FILE: configFile };
}
