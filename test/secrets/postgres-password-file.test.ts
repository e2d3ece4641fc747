/**
 * initdb reads the embedded PostgreSQL's password from a file. Its name in /tmp was predictable
 * (`solar-iot-pgpass-<pid>-<ms>`), and writing it followed a link planted there, so any local
 * user could have `npm start` write the password into a file of theirs: a symlink for every
 * millisecond of the next minutes is cheap.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres } from '../../tools/stack/components.js';
import { freePort } from '../../tools/stack/processes.js';
import { ensurePostgres } from '../../tools/stack/tools.js';

describe('the PostgreSQL password file of initdb', () => {
  let dir = '';
  const planted: string[] = [];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'solar-iot-pgpass-attack-'));
    await chmod(dir, 0o755); // PostgreSQL runs as its own user and must reach its data folder
  });
  afterAll(async () => {
    await Promise.all(planted.map((p) => rm(p, { force: true })));
    await rm(dir, { recursive: true, force: true });
  });

  it('never lands in a file planted at its path', async () => {
    const stolen = join(dir, 'stolen');
    await writeFile(stolen, '', { mode: 0o666 });
    // What an attacker does: a link at every name the next 20 seconds could produce.
    const from = Date.now();
    for (let ms = from; ms < from + 20_000; ms += 1000) {
      const batch = Array.from({ length: 1000 }, (_, i) =>
        join(tmpdir(), `solar-iot-pgpass-${process.pid}-${ms + i}`),
      );
      planted.push(...batch);
      await Promise.all(batch.map((path) => symlink(stolen, path).catch(() => undefined)));
    }
    const password = randomBytes(24).toString('hex');
    const pg = await startPostgres({
      binaries: await ensurePostgres(),
      dataDir: join(dir, 'pgdata'),
      port: await freePort(),
      database: 'pwfile_test',
      logFile: join(dir, 'postgres.log'),
      fast: true,
      password,
    });
    try {
      expect(pg.url).toContain(password);
      expect(await readFile(stolen, 'utf8')).not.toContain(password);
    } finally {
      await pg.stop();
    }
  }, 180_000);
});
