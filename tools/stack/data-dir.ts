/**
 * The data folder of `npm start` (.data, or SOLAR_IOT_DATA_DIR) and the secret files in it, kept
 * out of other local users' reach whatever the umask: the folder is created 0711 (others may
 * traverse it, as user postgres must under root, but not list or write it); the secret files in it
 * are read and written through src/secrets/private-file.ts. Another user who can write the folder,
 * plant a file or a link in it, or read a token could choose or learn the API token, the database
 * password or the keys.
 */
import { chmod, mkdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';

/**
 * Creates `dir` (0711 under any umask) or checks an existing one: ours, writable by us only.
 * `privateFolders` (logs, the Temporal dev server's state) are made 0700, existing ones too: their
 * names are known, so a traversable parent alone would let anyone read the logs and histories.
 */
export async function prepareDataDir(dir: string, privateFolders: readonly string[] = []): Promise<void> {
  await mkdirTraversable(dir);
  const s = await stat(dir);
  const uid = process.getuid?.();
  if (uid !== undefined && s.uid !== uid) {
    throw new Error(
      `${dir}: the data folder is owned by uid ${s.uid}, not by you (uid ${uid}): its owner could replace the keys and tokens in it. Fix: chown it to the user running npm start, or set SOLAR_IOT_DATA_DIR to a folder of yours`,
    );
  }
  if ((s.mode & 0o002) === 0 && (s.mode & 0o020) !== 0) {
    // Group-writable: umask 002, the default of user-private-group systems (Ubuntu). Ours, so
    // narrowed rather than refused; anything a group member planted is refused file by file.
    await chmod(dir, s.mode & 0o755);
  } else if ((s.mode & 0o002) !== 0) {
    throw new Error(
      `${dir}: the data folder is writable by other users (mode ${(s.mode & 0o777).toString(8)}): anyone could replace the keys and tokens in it. Fix: chmod go-w ${dir}`,
    );
  }
  for (const name of privateFolders) {
    await mkdir(join(dir, name), { recursive: true, mode: 0o700 });
    await chmod(join(dir, name), 0o700);
  }
}

/**
 * `mkdir -p dir`, every folder it creates 0711 whatever the umask (under 077 they would be 0700):
 * as root, PostgreSQL runs as user postgres, which must traverse them to reach its data.
 */
export async function mkdirTraversable(dir: string): Promise<void> {
  const first = await mkdir(dir, { recursive: true, mode: 0o711 });
  if (first === undefined) return;
  for (let d = resolve(dir); ; d = dirname(d)) {
    await chmod(d, 0o711);
    if (d === resolve(first) || d === dirname(d)) break;
  }
}
