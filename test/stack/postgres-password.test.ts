/**
 * The embedded PostgreSQL of `npm start` listens on 127.0.0.1, where every local user can connect:
 * its superuser password must not be the well-known `postgres` (issue 13). startPostgres takes the
 * password (npm start generates one into <data>/postgres.password), and a data folder initialized
 * with the old fixed password is moved to the new one on its next start.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres } from '../../tools/stack/components.js';
import { freePort } from '../../tools/stack/processes.js';
import { ensureTools } from '../../tools/stack/tools.js';

let workDir: string;
let binaries: NonNullable<Awaited<ReturnType<typeof ensureTools>>['postgres']>;

beforeAll(async () => {
  const tools = await ensureTools({ postgres: true });
  binaries = tools.postgres as typeof binaries;
  workDir = await mkdtemp(join(tmpdir(), 'solar-iot-pg-password-'));
  // As root, PostgreSQL runs as user postgres, which must traverse this folder.
  await chmod(workDir, 0o711);
});
afterAll(async () => {
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

async function canConnect(port: number, password: string): Promise<boolean> {
  const client = new pg.Client({
    connectionString: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.end();
    return true;
  } catch {
    return false;
  }
}

describe('embedded PostgreSQL data folder', () => {
  it('starts in a folder whose parents it creates itself (as root: user postgres must traverse them)', async () => {
    // npm start moves the data to /var/lib/solar-iot/<hash>/postgres when the clone is not
    // traversable (a clone under /root): those parents were created 0700, so initdb failed.
    const old = process.umask(0o077);
    let server: Awaited<ReturnType<typeof startPostgres>> | undefined;
    try {
      server = await startPostgres({
        binaries,
        dataDir: join(workDir, 'new-parent', 'hash', 'postgres'),
        database: 'solar_iot',
        fast: true,
        port: await freePort(),
        logFile: join(workDir, 'new-parent.log'),
      });
      expect(server.url).toMatch(/^postgres:\/\//);
    } finally {
      process.umask(old);
      await server?.stop();
    }
  });
});

describe('embedded PostgreSQL password', () => {
  it('uses the password it is given, refuses the well-known one, and moves an old data folder to it', async () => {
    const dataDir = join(workDir, 'data');
    const common = { binaries, dataDir, database: 'solar_iot', fast: true };
    // A data folder as earlier versions left it: initialized with the fixed password.
    const port1 = await freePort();
    const old = await startPostgres({ ...common, port: port1, logFile: join(workDir, 'pg1.log') });
    await old.stop();

    const password = 'a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6';
    const port2 = await freePort();
    const server = await startPostgres({
      ...common,
      port: port2,
      logFile: join(workDir, 'pg2.log'),
      password,
    });
    try {
      expect(new URL(server.url).password).toBe(password);
      expect(await canConnect(port2, password)).toBe(true);
      expect(await canConnect(port2, 'postgres')).toBe(false);
      expect(server.where).not.toContain(password);
    } finally {
      await server.stop();
    }
  });
});
