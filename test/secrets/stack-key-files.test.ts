/**
 * The key files of the local stack's data folder (<data>/codec.keys, <data>/encryption.key) when
 * they are damaged or exposed: a data folder copied without its modes, a file emptied by a full
 * disk or cut short by an editor. Each one stops `npm start` with a message naming the file; none
 * is replaced by a new key (that would make every history, or every stored private key, unreadable)
 * or silently ignored.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stackCodecKeys } from '../../src/codec/local.js';
import { stackEncryptionKey } from '../../tools/stack/encryption-key.js';

const encryption = { currentKey: randomBytes(32).toString('hex'), previousKeys: [] };
const oneKey = () => `c-1:${randomBytes(32).toString('base64')}`;

describe('key files of the local stack', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'solar-iot-key-files-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const codecKeysOf = (file: string) =>
    stackCodecKeys({ env: {}, file: join(dir, file), encryption, hasHistories: true });

  it('an empty codec.keys stops the stack instead of switching every process to derived keys', async () => {
    for (const [name, text] of [
      ['empty.keys', ''],
      ['blank.keys', '\r\n  \n'],
    ] as const) {
      await writeFile(join(dir, name), text, { mode: 0o600 });
      await expect(codecKeysOf(name)).rejects.toThrow(new RegExp(`${name.replace('.', '\\.')}: is empty`));
      // Not replaced: the keys it held may be in a backup, and histories need exactly them.
      expect(await readFile(join(dir, name), 'utf8')).toBe(text);
    }
  });

  it('a codec.keys that other users can read stops the stack, naming the chmod', async () => {
    const value = oneKey();
    await writeFile(join(dir, 'open.keys'), `${value}\n`);
    await chmod(join(dir, 'open.keys'), 0o644);
    await expect(codecKeysOf('open.keys')).rejects.toThrow(/open\.keys: readable by other users .*chmod 600/);
    await chmod(join(dir, 'open.keys'), 0o600);
    expect((await codecKeysOf('open.keys')).value).toBe(value);
  });

  it('a codec.keys with Windows line endings still reads', async () => {
    const [a, b] = [oneKey(), oneKey().replace('c-1', 'c-0')];
    await writeFile(join(dir, 'crlf.keys'), `${a},\r\n${b}\r\n`, { mode: 0o600 });
    expect((await codecKeysOf('crlf.keys')).value.split(/,\s*/)).toEqual([a, b]);
  });

  it('a truncated encryption.key stops the stack and is never replaced by a new key', async () => {
    const data = join(dir, 'data');
    const first = await stackEncryptionKey({}, data);
    expect(first.key).toMatch(/^[0-9a-f]{64}$/);
    expect((await stackEncryptionKey({}, data)).key).toBe(first.key);
    const cut = first.key.slice(0, 20);
    await writeFile(join(data, 'encryption.key'), `${cut}\n`, { mode: 0o600 });
    await expect(stackEncryptionKey({}, data)).rejects.toThrow(/encryption\.key: holds 20 characters/);
    expect(await readFile(join(data, 'encryption.key'), 'utf8')).toBe(`${cut}\n`);
    // ENCRYPTION_KEY, when given, wins and the file is not read.
    expect((await stackEncryptionKey({ ENCRYPTION_KEY: first.key }, data)).source).toBe('ENCRYPTION_KEY');
  });
});
