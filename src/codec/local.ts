/**
 * The codec server and keys in the local stack (`npm start`). The token lives in a file of the data
 * directory (CODEC_SERVER_TOKEN_FILE, created 0600 on first use), so the stack needs no
 * configuration, and the Temporal dev server's Web UI can be pointed at it with the token in the
 * endpoint path (the UI of a dev server has no login and cannot send a bearer token).
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ConfigError } from '../config/index.js';
import { readPrivateFile, writeNewPrivateFile } from '../secrets/private-file.js';
import { deriveCodecKeys, type EncryptionKeys } from './keys.js';
import { CODEC_KEY_BYTES, DEFAULT_CODEC_SERVER_PORT, MIN_TOKEN_LENGTH, parseCodecKeys } from './settings.js';

/**
 * The token in `file`, created (random, mode 0600, exclusively: never over a file or through a
 * link) if the file does not exist yet. A file too short to be a token is refused, not replaced:
 * it may be a link to a file that is not ours. `private` (the data folder of `npm start`): the
 * file must also be a regular file of ours that nobody else can read (readPrivateFile); without
 * it, a file given by the operator (CODEC_SERVER_TOKEN_FILE, e.g. a mounted secret) is read as is.
 */
export async function tokenFromFile(file: string, options: { private?: boolean } = {}): Promise<string> {
  const existing = options.private ? await readPrivateFile(file) : await readIfExists(file);
  if (existing !== undefined) {
    const token = existing.trim();
    if (token.length >= MIN_TOKEN_LENGTH) return token;
    throw new Error(
      `${file}: holds ${token.length} characters, not a token of at least ${MIN_TOKEN_LENGTH}. Fix: delete it to have a new one generated`,
    );
  }
  const token = randomBytes(32).toString('hex');
  await mkdir(dirname(file), { recursive: true });
  try {
    await writeNewPrivateFile(file, `${token}\n`);
  } catch (error) {
    // Another start created it meanwhile: theirs is the token.
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return tokenFromFile(file, options);
    throw error;
  }
  return token;
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** The environment with CODEC_SERVER_TOKEN filled from CODEC_SERVER_TOKEN_FILE when only the file is given. */
export async function withTokenFromFile(
  env: Record<string, string | undefined>,
): Promise<Record<string, string | undefined>> {
  const file = env.CODEC_SERVER_TOKEN_FILE?.trim();
  if (env.CODEC_SERVER_TOKEN?.trim() || !file) return env;
  return { ...env, CODEC_SERVER_TOKEN: await tokenFromFile(file) };
}

/** What `--ui-codec-endpoint` of `temporal server start-dev` should be for the local codec server. */
export async function localCodecUiEndpoint(options: {
  tokenFile: string;
  port?: number;
  /** CODEC_SERVER_TOKEN here wins over the file, as it does for the codec server (withTokenFromFile). */
  env?: Record<string, string | undefined>;
}): Promise<string> {
  const token = options.env?.CODEC_SERVER_TOKEN?.trim() || (await tokenFromFile(options.tokenFile));
  return `http://localhost:${options.port ?? DEFAULT_CODEC_SERVER_PORT}/t/${token}`;
}

export interface StackCodecKeys {
  /** TEMPORAL_CODEC_KEYS for every child of the stack. */
  value: string;
  /** Where they come from, for the start-up table. */
  source: string;
}

/**
 * The codec keys of the local stack, on their own lifecycle: TEMPORAL_CODEC_KEYS when set, else
 * `file` (<data>/codec.keys, TEMPORAL_CODEC_KEYS format, mode 0600), generated on first use with
 * one random key. Rotating ENCRYPTION_KEY never changes them, so histories, schedules and open
 * workflows stay readable after the old at-rest key is dropped.
 *
 * A data folder whose Temporal state predates the file (`hasHistories`) has payloads under keys
 * derived from ENCRYPTION_KEY (and ENCRYPTION_KEYS_PREVIOUS), the codec keys of a stack without
 * the file: those are kept in the file as decrypt-only entries (after the new key), so nothing
 * already written is lost; they stay until those histories are gone (see reencrypt-keys' report).
 */
export async function stackCodecKeys(options: {
  env: Record<string, string | undefined>;
  file: string;
  encryption: EncryptionKeys;
  hasHistories: boolean;
}): Promise<StackCodecKeys> {
  const configured = options.env.TEMPORAL_CODEC_KEYS?.trim();
  if (configured) {
    parseCodecKeys({ TEMPORAL_CODEC_KEYS: configured });
    return { value: configured, source: 'TEMPORAL_CODEC_KEYS' };
  }
  try {
    const value = (await readFile(options.file, 'utf8')).trim();
    if (!value) {
      // Never regenerated, never ignored: an empty value would silently switch every process
      // to keys derived from ENCRYPTION_KEY, and a new key cannot read what the lost one wrote.
      throw new ConfigError([
        `${options.file}: is empty. Fix: restore it from a backup of the data folder; delete it to generate a new key only if no open workflow, schedule or retained history needs the old one (npm run cli -- reencrypt-keys lists them)`,
      ]);
    }
    // A broken file stops the stack with the variable-style message, naming the file.
    try {
      parseCodecKeys({ TEMPORAL_CODEC_KEYS: value });
    } catch (error) {
      if (error instanceof ConfigError)
        throw new ConfigError(error.lines.map((l) => `${options.file}: ${l}`));
      throw error;
    }
    // After the read, so a missing file still falls through to ENOENT below.
    const { mode, uid } = await stat(options.file);
    if ((mode & 0o077) !== 0 || (process.getuid && uid !== process.getuid())) {
      // Whoever reads the keys decrypts every history and encrypts inputs the worker runs.
      throw new ConfigError([
        `${options.file}: readable by other users or not yours (mode ${(mode & 0o777).toString(8)}, owner ${uid}): the keys decrypt every workflow's data. Fix: chmod 600 ${options.file} (and chown it to the user running npm start)`,
      ]);
    }
    return { value, source: options.file };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const id = `c-${new Date().toISOString().slice(0, 10).replace(/-/g, '')}-${randomBytes(3).toString('hex')}`;
  const entries = [`${id}:${randomBytes(CODEC_KEY_BYTES).toString('base64')}`];
  if (options.hasHistories && options.encryption.currentKey) {
    for (const k of await deriveCodecKeys(options.encryption))
      entries.push(`${k.id}:${k.key.toString('base64')}`);
  }
  const value = entries.join(',');
  await mkdir(dirname(options.file), { recursive: true });
  // wx: two stacks starting at once never overwrite each other's keys.
  await writeFile(options.file, `${value}\n`, { mode: 0o600, flag: 'wx' });
  await chmod(options.file, 0o600);
  return {
    value,
    source: `${options.file} (new${entries.length > 1 ? ', keeps the keys derived from ENCRYPTION_KEY to read older histories' : ''})`,
  };
}
