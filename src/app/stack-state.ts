/**
 * What `npm start` runs, for the commands of a second terminal: `npm start` writes
 * `<data>/stack.json` (mode 0600; <data> is .data or SOLAR_IOT_DATA_DIR) once its processes run,
 * and removes it when it stops. A command (the CLI, the simulator) reads it only while that
 * `npm start` is alive, and takes from it only what its own environment leaves unset: explicit
 * variables win. The file holds no secret: keys, tokens and the database password are named by
 * the path of the 0600 file that holds them, read only from a private file (readPrivateFile).
 *
 * Groups, each applied whole or not at all, so a command never mixes two stacks:
 *   database  DATABASE_URL unset: the embedded PostgreSQL (password from its file)
 *   temporal  TEMPORAL_ADDRESS unset: the stack's Temporal; its own dev server also replaces the
 *             shell's Temporal Cloud settings, as for the stack's processes (child-env.ts)
 *   aws       AWS_ENDPOINT_URL unset and SOLAR_IOT_REAL_AWS not true: the stack's emulator with
 *             `test` keys (the shell's profile or keys dropped, as npm start drops them), its
 *             region, queue and role
 *   api       SOLAR_IOT_API_URL unset: the stack's API; its token file unless a token is given
 *   keys      ENCRYPTION_KEY, TEMPORAL_CODEC_KEYS: each from its file when unset
 *   settings  the non-secret settings the stack was started with (task queue, IoT modes, ...)
 */
import { readFileSync } from 'node:fs';
import { rename, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readPrivateFile, writeNewPrivateFile } from '../secrets/private-file.js';

export const STACK_STATE_FILE = 'stack.json';

export interface StackState {
  version: 1;
  /** The `npm start` process: the state holds only while it runs. */
  pid: number;
  startedAt: string;
  database?: { url: string; passwordFile?: string };
  temporal?: { address: string; own: boolean; configFile?: string };
  aws?: { emulator: boolean; endpoint?: string; region?: string; sqsQueueUrl?: string; iotRoleArn?: string };
  api?: { url: string; tokenFile?: string };
  encryptionKeyFile?: string;
  codecKeysFile?: string;
  /** Non-secret variables the stack's processes got (STATE_SETTINGS). */
  settings: Record<string, string>;
}

type Env = Record<string, string | undefined>;

/** The settings recorded (names, or prefixes ending in `*`): none of them is a secret. */
export const STATE_SETTINGS = [
  'TEMPORAL_TASK_QUEUE',
  'TEMPORAL_NAMESPACE',
  'USE_AWS_IOT',
  'USE_MOCK_DATA',
  'CERTIFICATE_MODE',
  'TOPIC_RULE_MODE',
  'POLICY_MODE',
  'AWS_IOT_ENDPOINT',
  'CERTIFICATE_MAX_AGE_DAYS',
  'ROTATION_*',
  'INGEST_*',
  'SOLAR_IOT_QUOTA_*',
] as const;

/** The shell's Temporal connection settings, dropped for the stack's own dev server (as child-env.ts). */
export const TEMPORAL_CONNECTION =
  /^TEMPORAL_(API_KEY|NAMESPACE|TLS|TLS_.*|GRPC_META_.*|PROFILE|CONFIG_FILE|CODEC_ENDPOINT|CODEC_AUTH)$/;

/** Variables through which the AWS SDK finds credentials or a profile: dropped for an emulator. */
export const AWS_CREDENTIAL_VARIABLES = [
  'AWS_PROFILE',
  'AWS_DEFAULT_PROFILE',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  // Its legacy name (botocore and older tools still read it), and what fromEnv pairs with keys.
  'AWS_SECURITY_TOKEN',
  'AWS_CREDENTIAL_SCOPE',
  'AWS_ACCOUNT_ID',
  'AWS_CREDENTIAL_EXPIRATION',
  'AWS_ROLE_ARN',
  'AWS_ROLE_SESSION_NAME',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE',
  'AWS_CONFIG_FILE',
  'AWS_SHARED_CREDENTIALS_FILE',
  'AWS_SSO_SESSION',
] as const;

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The data folder of `npm start`: SOLAR_IOT_DATA_DIR, else `.data` of this checkout. */
export function stackDataDir(env: Env): string {
  return resolve(env.SOLAR_IOT_DATA_DIR?.trim() || join(ROOT, '.data'));
}

/** The settings of `env` that STATE_SETTINGS names. */
export function stateSettings(env: Env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined || v === '') continue;
    if (STATE_SETTINGS.some((s) => (s.endsWith('*') ? k.startsWith(s.slice(0, -1)) : k === s))) out[k] = v;
  }
  return out;
}

/** Written as a new private file, then renamed over the old one: a reader never sees half of it. */
export async function writeStackState(dataDir: string, state: StackState): Promise<void> {
  const temp = join(dataDir, `${STACK_STATE_FILE}.${process.pid}.tmp`);
  await unlink(temp).catch(() => undefined);
  await writeNewPrivateFile(temp, `${JSON.stringify(state, null, 2)}\n`);
  await rename(temp, join(dataDir, STACK_STATE_FILE));
}

/** Removes the state if it is this process' own (another `npm start` may have written it since). */
export async function removeStackState(dataDir: string, pid = process.pid): Promise<void> {
  const state = await readStackState(dataDir, { evenIfStopped: true }).catch(() => undefined);
  if (state?.pid === pid) await unlink(join(dataDir, STACK_STATE_FILE)).catch(() => undefined);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * When process `pid` started (Linux: /proc), or undefined where that cannot be read. Start ticks
 * since boot (stat field 22) at USER_HZ 100, which Linux fixes for user space on every platform.
 */
function processStart(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const ticks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    const boot = Number(/^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1]);
    return Number.isFinite(ticks) && Number.isFinite(boot) ? boot * 1000 + ticks * 10 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The stack's `npm start` still runs: its pid is alive and did not start after the state was
 * written (a pid reused by a later process after a `kill -9` of the stack is not the stack).
 */
function stackRunning(state: StackState): boolean {
  if (!alive(state.pid)) return false;
  const started = processStart(state.pid);
  const written = Date.parse(state.startedAt);
  // 2 s: btime has whole seconds, and startedAt is taken after npm start's own start.
  return started === undefined || Number.isNaN(written) || started <= written + 2_000;
}

/**
 * The state of the `npm start` running on `dataDir`, or undefined (no file, or its `npm start`
 * is gone: a stack killed without its clean-up). A file others could have written is refused.
 */
export async function readStackState(
  dataDir: string,
  options: { evenIfStopped?: boolean } = {},
): Promise<StackState | undefined> {
  const file = join(dataDir, STACK_STATE_FILE);
  const text = await readPrivateFile(file);
  if (text === undefined) return undefined;
  let state: StackState;
  try {
    state = JSON.parse(text) as StackState;
  } catch {
    throw new Error(`${file}: is not JSON. Fix: delete it; \`npm start\` writes it again`);
  }
  if (state.version !== 1 || !Number.isInteger(state.pid)) return undefined;
  return options.evenIfStopped || stackRunning(state) ? state : undefined;
}

async function secretFrom(file: string): Promise<string> {
  const value = (await readPrivateFile(file))?.trim();
  if (!value) throw new Error(`${file}: missing or empty (named by the state of \`npm start\`)`);
  return value;
}

function unset(env: Env, name: string): boolean {
  return !env[name]?.trim();
}

/**
 * `env` completed from the running stack's state (see the groups above); `env` itself when no
 * stack runs on the data folder. `from` names the state file when it was used.
 */
export async function withStackState(env: Env): Promise<{ env: Env; from?: string }> {
  const dataDir = stackDataDir(env);
  const state = await readStackState(dataDir);
  if (!state) return { env };
  const out: Env = { ...env };
  for (const [k, v] of Object.entries(state.settings ?? {})) if (unset(out, k)) out[k] = v;
  const { database, temporal, aws, api } = state;
  if (database && unset(env, 'DATABASE_URL')) {
    const url = new URL(database.url);
    if (database.passwordFile) url.password = encodeURIComponent(await secretFrom(database.passwordFile));
    out.DATABASE_URL = url.toString();
  }
  if (temporal && unset(env, 'TEMPORAL_ADDRESS')) {
    if (temporal.own) {
      for (const k of Object.keys(out)) if (TEMPORAL_CONNECTION.test(k)) delete out[k];
      if (temporal.configFile) out.TEMPORAL_CONFIG_FILE = temporal.configFile;
    }
    out.TEMPORAL_ADDRESS = temporal.address;
  }
  const realAws = ['true', '1'].includes(env.SOLAR_IOT_REAL_AWS?.trim().toLowerCase() ?? '');
  if (aws && unset(env, 'AWS_ENDPOINT_URL') && !realAws) {
    if (aws.emulator) {
      for (const k of AWS_CREDENTIAL_VARIABLES) delete out[k];
      Object.assign(out, { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' });
      for (const k of ['AWS_SQS_QUEUE_URL', 'AWS_IOT_ROLE_ARN', 'AWS_IOT_ENDPOINT']) delete out[k];
      if (aws.endpoint) out.AWS_ENDPOINT_URL = aws.endpoint;
    }
    if (aws.region) out.AWS_REGION = aws.region;
    if (aws.sqsQueueUrl) out.AWS_SQS_QUEUE_URL ||= aws.sqsQueueUrl;
    if (aws.iotRoleArn) out.AWS_IOT_ROLE_ARN ||= aws.iotRoleArn;
    if (state.settings?.AWS_IOT_ENDPOINT) out.AWS_IOT_ENDPOINT ||= state.settings.AWS_IOT_ENDPOINT;
  }
  if (api && unset(env, 'SOLAR_IOT_API_URL')) {
    out.SOLAR_IOT_API_URL = api.url;
    if (api.tokenFile && unset(env, 'SOLAR_IOT_API_TOKEN') && unset(env, 'SOLAR_IOT_API_TOKEN_FILE'))
      out.SOLAR_IOT_API_TOKEN_FILE = api.tokenFile;
  }
  if (state.encryptionKeyFile && unset(env, 'ENCRYPTION_KEY'))
    out.ENCRYPTION_KEY = await secretFrom(state.encryptionKeyFile);
  if (state.codecKeysFile && unset(env, 'TEMPORAL_CODEC_KEYS'))
    out.TEMPORAL_CODEC_KEYS = await secretFrom(state.codecKeysFile);
  return { env: out, from: join(dataDir, STACK_STATE_FILE) };
}

/**
 * For a command line that reads `process.env` (the tools run by path, the simulator): fills it
 * from the running stack's state as withStackState does, dropping what that drops. A state
 * file that cannot be trusted stops the command with its message (exit 2).
 */
export async function applyStackState(target: NodeJS.ProcessEnv = process.env): Promise<void> {
  let env: Env;
  try {
    ({ env } = await withStackState(target));
  } catch (error) {
    console.error((error as Error).message);
    process.exit(2);
  }
  for (const k of Object.keys(target)) if (!(k in env)) delete target[k];
  for (const [k, v] of Object.entries(env)) if (v !== undefined) target[k] = v;
}
