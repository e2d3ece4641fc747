/**
 * The data folder of `npm start` and the secrets it generates into it (api.token,
 * postgres.password, codec-server.token, encryption.key), attacked as another local user would:
 * a folder created under umask 000, a token file someone else can read, owns, or has replaced by a
 * symbolic link (to a file of theirs, or to a system file the stack would overwrite as root).
 * Each one stops the stack with a message naming the file and the fix; nothing is read through a
 * link, written through a link, or silently accepted.
 */
import {
  chmod,
  chown,
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localCodecUiEndpoint, tokenFromFile, withTokenFromFile } from '../../src/codec/local.js';
import { prepareDataDir } from '../../tools/stack/data-dir.js';
import { stackEncryptionKey } from '../../tools/stack/encryption-key.js';

const NOBODY = 65534;
const TOKEN = 'a'.repeat(64);
let dir = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'solar-iot-data-dir-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** Runs `fn` under umask 000 (as an operator's shell may be), restoring the umask after. */
async function underUmask000<T>(fn: () => Promise<T>): Promise<T> {
  const old = process.umask(0);
  try {
    return await fn();
  } finally {
    process.umask(old);
  }
}

describe('npm start data folder', () => {
  it('is created writable by its owner only, even under umask 000', async () => {
    const data = join(dir, 'umask', '.data');
    await underUmask000(() => prepareDataDir(data));
    expect((await stat(data)).mode & 0o022).toBe(0);
    // Other users may traverse it (PostgreSQL runs as user postgres under root) but not list it.
    expect((await stat(data)).mode & 0o004).toBe(0);
  });

  it('narrows a group-writable data folder (umask 002) instead of refusing it', async () => {
    const data = join(dir, 'umask002');
    await mkdir(data);
    await chmod(data, 0o775);
    await prepareDataDir(data);
    expect((await stat(data)).mode & 0o777).toBe(0o755);
  });

  it('keeps the logs and the Temporal state (histories) to its owner, in an existing folder too', async () => {
    const data = join(dir, 'old-data');
    await mkdir(join(data, 'logs'), { recursive: true });
    await chmod(data, 0o755);
    await chmod(join(data, 'logs'), 0o755);
    await underUmask000(() => prepareDataDir(data, ['logs', 'temporal']));
    for (const name of ['logs', 'temporal'])
      expect((await stat(join(data, name))).mode & 0o777, name).toBe(0o700);
  });

  it('is created traversable under umask 077 too: as root, PostgreSQL (user postgres) keeps its data in it', async () => {
    const data = join(dir, 'umask077', '.data');
    const old = process.umask(0o077);
    try {
      await prepareDataDir(data);
    } finally {
      process.umask(old);
    }
    expect((await stat(data)).mode & 0o777).toBe(0o711);
    expect((await stat(join(dir, 'umask077'))).mode & 0o777).toBe(0o711);
  });

  it('refuses an existing data folder that other users can write to', async () => {
    const data = join(dir, 'open-data');
    await mkdir(data);
    await chmod(data, 0o777);
    await expect(prepareDataDir(data)).rejects.toThrow(/open-data.*writable by other users.*chmod go-w/);
  });

  it('creates a token file 0600 even under umask 000', async () => {
    const file = join(dir, 'umask-token', 'api.token');
    const token = await underUmask000(() => tokenFromFile(file, { private: true }));
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await tokenFromFile(file, { private: true })).toBe(token);
  });

  it('refuses a token file that other users can read, and leaves it as it is', async () => {
    for (const name of ['api.token', 'postgres.password']) {
      const file = join(dir, `readable-${name}`);
      await writeFile(file, `${TOKEN}\n`);
      await chmod(file, 0o644);
      await expect(tokenFromFile(file, { private: true })).rejects.toThrow(
        new RegExp(`readable-${name.replace('.', '\\.')}: readable by other users.*chmod 600`),
      );
      expect(await readFile(file, 'utf8')).toBe(`${TOKEN}\n`);
    }
  });

  it('refuses a token file owned by another user (who could have chosen the token)', async () => {
    const file = join(dir, 'foreign.token');
    await writeFile(file, `${TOKEN}\n`, { mode: 0o600 });
    await chown(file, NOBODY, NOBODY);
    await expect(tokenFromFile(file, { private: true })).rejects.toThrow(/foreign\.token: .*owner 65534/);
  });

  it('never reads a token through a symbolic link, nor writes one through it', async () => {
    // A link to a file of someone else's: its content would become the API token.
    const planted = join(dir, 'attacker-token');
    await writeFile(planted, `${TOKEN}\n`, { mode: 0o600 });
    const link = join(dir, 'linked-api.token');
    await symlink(planted, link);
    await expect(tokenFromFile(link, { private: true })).rejects.toThrow(
      /linked-api\.token: .*symbolic link/,
    );

    // A link to a short file of the system's: the stack would write a new token over it.
    const victim = join(dir, 'victim-hostname');
    await writeFile(victim, 'myhost\n');
    const link2 = join(dir, 'linked-codec-server.token');
    await symlink(victim, link2);
    await expect(tokenFromFile(link2)).rejects.toThrow();
    expect(await readFile(victim, 'utf8')).toBe('myhost\n');
    expect((await lstat(link2)).isSymbolicLink()).toBe(true);
  });

  it('refuses an encryption.key that other users can read', async () => {
    const data = join(dir, 'key-data');
    await mkdir(data);
    await writeFile(join(data, 'encryption.key'), `${'b'.repeat(64)}\n`);
    await chmod(join(data, 'encryption.key'), 0o644);
    await expect(stackEncryptionKey({}, data)).rejects.toThrow(
      /encryption\.key: readable by other users.*chmod 600/,
    );
  });

  it('points the Web UI at the token the codec server uses: CODEC_SERVER_TOKEN of the shell wins over the file, for both', async () => {
    const tokenFile = join(dir, 'ui-codec-server.token');
    const shellToken = 'd'.repeat(40);
    const env = { CODEC_SERVER_TOKEN: shellToken, CODEC_SERVER_TOKEN_FILE: tokenFile };
    const served = (await withTokenFromFile(env)).CODEC_SERVER_TOKEN;
    const ui = await localCodecUiEndpoint({ tokenFile, port: 8234, env });
    expect(served).toBe(shellToken);
    // The UI called the codec server with the file's token: 401, nothing decoded.
    expect(ui).toBe(`http://localhost:8234/t/${served}`);
  });
});
