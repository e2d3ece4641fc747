/**
 * The codec server in the local stack (`npm start`): its token lives in a file of the data
 * directory (CODEC_SERVER_TOKEN_FILE, created 0600 on first use), so the stack needs no
 * configuration, and the Temporal dev server's Web UI can be pointed at it with the token in the
 * endpoint path (the UI of a dev server has no login and cannot send a bearer token).
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DEFAULT_CODEC_SERVER_PORT, MIN_TOKEN_LENGTH } from './settings.js';

/** The token in `file`, created (random, mode 0600) if the file does not exist yet. */
export async function tokenFromFile(file: string): Promise<string> {
  try {
    const token = (await readFile(file, 'utf8')).trim();
    if (token.length >= MIN_TOKEN_LENGTH) return token;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const token = randomBytes(32).toString('hex');
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, `${token}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  return token;
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
export async function localCodecUiEndpoint(options: { tokenFile: string; port?: number }): Promise<string> {
  const token = await tokenFromFile(options.tokenFile);
  return `http://localhost:${options.port ?? DEFAULT_CODEC_SERVER_PORT}/t/${token}`;
}
