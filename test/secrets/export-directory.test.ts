/**
 * Where `export-credentials` may write a plant's private key (issue 13, item 10): a new directory,
 * or an existing empty one that the caller owns, reached without a symbolic link; files created
 * exclusively and without following links, so nothing planted can redirect or read the key.
 * The bundle's content is not the point here: a pass-through vault and any PEM-like strings.
 */

import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { chown, link, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDb, type DbHandle } from '../../src/db/client.js';
import { BUNDLE_FILES, ExportError, exportDeviceBundle } from '../../src/secrets/export-credentials.js';
import { insertActivePlant } from '../support/secrets.js';

const KEY = '-----BEGIN PRIVATE KEY-----\nnot-a-real-key\n-----END PRIVATE KEY-----\n';
const passThrough = { encrypt: async (s: string) => s, decrypt: async (s: string) => s };
let database: DbHandle;
let workDir: string;

beforeAll(async () => {
  database = createDb(inject('stack').DATABASE_URL, { max: 2 });
  workDir = await mkdtemp(join(tmpdir(), 'solar-iot-export-dir-'));
});
afterAll(async () => {
  await database?.close();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

const activePlant = async () =>
  (
    await insertActivePlant(database.db, 'Export directory plant', {
      encryptedPrivateKey: KEY,
      encryptedCertificatePem: '-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n',
    })
  ).plantId;

const exportTo = async (directory: string) =>
  exportDeviceBundle({
    db: database.db,
    vault: passThrough,
    plantId: await activePlant(),
    directory,
    endpoint: 'abc-ats.iot.us-east-1.amazonaws.com',
    checkKeyMatches: false,
  });

/** No file of the bundle anywhere under `dir` holds the key. */
function keyNowhereUnder(dir: string): void {
  for (const name of existsSync(dir) ? readdirSyncDeep(dir) : []) {
    const st = lstatSync(name);
    if (st.isFile()) expect(readFileSync(name, 'utf8'), name).not.toContain('not-a-real-key');
  }
}
function readdirSyncDeep(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? readdirSyncDeep(join(dir, e.name)) : [join(dir, e.name)],
  );
}

describe('export-credentials target directory', () => {
  it('writes into an existing empty directory of the caller', async () => {
    const directory = join(workDir, 'mine');
    await mkdir(directory);
    const result = await exportTo(directory);
    expect(result.files).toEqual(Object.values(BUNDLE_FILES));
  });

  it('refuses a directory reached through a symbolic link, and writes nothing where it points', async () => {
    const elsewhere = join(workDir, 'elsewhere');
    await mkdir(elsewhere);
    const directory = join(workDir, 'link-to-elsewhere');
    await symlink(elsewhere, directory);
    await expect(exportTo(directory)).rejects.toThrow(ExportError);
    await expect(exportTo(directory)).rejects.toThrow(/symbolic link/);
    expect(await readdir(elsewhere)).toEqual([]);
  });

  it.runIf(process.getuid?.() === 0)(
    'refuses an empty directory another user owns (run as root here)',
    async () => {
      const directory = join(workDir, 'someone-elses');
      await mkdir(directory, { mode: 0o777 });
      await chown(directory, 65534, 65534);
      await expect(exportTo(directory)).rejects.toThrow(/owned by uid 65534/);
      expect(await readdir(directory)).toEqual([]);
    },
  );

  it('refuses a directory holding a link, naming it, and leaves the link and its target alone', async () => {
    const target = join(workDir, 'victim.txt');
    await writeFile(target, 'keep me');
    const directory = join(workDir, 'planted');
    await mkdir(directory);
    await symlink(target, join(directory, BUNDLE_FILES.privateKey));
    await expect(exportTo(directory)).rejects.toThrow(/symbolic link private\.pem\.key/);
    expect(readFileSync(target, 'utf8')).toBe('keep me');

    const hard = join(workDir, 'hard');
    await mkdir(hard);
    await link(target, join(hard, 'innocent-looking'));
    await expect(exportTo(hard)).rejects.toThrow(/link innocent-looking/);
    keyNowhereUnder(directory);
    keyNowhereUnder(hard);
    expect(readFileSync(target, 'utf8')).toBe('keep me');
  });

  it('refuses a FIFO or a same-named file in the directory, `..`, and a file as the directory, without blocking', async () => {
    const fifoDir = join(workDir, 'with-fifo');
    await mkdir(fifoDir);
    execFileSync('mkfifo', [join(fifoDir, BUNDLE_FILES.privateKey)]);
    // A writer opening the FIFO would block until someone reads: refused before any open.
    await expect(exportTo(fifoDir)).rejects.toThrow(/is not empty/);

    const sameName = join(workDir, 'same-name');
    await mkdir(sameName);
    await writeFile(join(sameName, BUNDLE_FILES.certificate), 'an older bundle');
    await expect(exportTo(sameName)).rejects.toThrow(/is not empty/);
    expect(readFileSync(join(sameName, BUNDLE_FILES.certificate), 'utf8')).toBe('an older bundle');

    // A relative path is resolved against the working directory: `..` is a folder with files.
    await expect(exportTo('..')).rejects.toThrow(/is not empty/);
    const file = join(workDir, 'a-file');
    await writeFile(file, 'x');
    await expect(exportTo(file)).rejects.toThrow(/not a directory/);
    keyNowhereUnder(fifoDir);
    keyNowhereUnder(sameName);
  });

  it.runIf(process.getuid?.() === 0)(
    "through a parent that is a link to another user's open folder: the bundle is ours, 0700 and 0600",
    async () => {
      // Its owner can rename the bundle away, but not read it: the files are created 0600 with
      // O_EXCL | O_NOFOLLOW, whatever the directory turns out to be by then.
      const theirs = join(workDir, 'theirs');
      await mkdir(theirs, { mode: 0o777 });
      await chown(theirs, 65534, 65534);
      const via = join(workDir, 'via-link');
      await symlink(theirs, via);
      const result = await exportTo(join(via, 'bundle'));
      const bundle = join(theirs, 'bundle');
      expect(lstatSync(bundle).uid).toBe(0);
      expect(lstatSync(bundle).mode & 0o777).toBe(0o700);
      for (const name of result.files) expect(lstatSync(join(bundle, name)).mode & 0o777, name).toBe(0o600);
    },
  );
});
