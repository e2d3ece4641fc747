/**
 * Secret files of the local stack's data folder (API token, codec token, keys): read only if a
 * regular file of ours that nobody else can read, never through a symbolic link; written only as
 * a new file, 0600 whatever the umask. Another user who could plant or read such a file would
 * choose or learn the secret.
 */
import { constants as fs } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';

/** A key, a token, a password, the stack's state: far less. More is the wrong file (a log, a dump). */
export const MAX_PRIVATE_FILE_BYTES = 64 * 1024;

/**
 * The content of `file`, or undefined when it does not exist. Refused (an Error naming the file
 * and the fix): a symbolic link, anything but a regular file, a file of another user, a file
 * others can read, a file larger than MAX_PRIVATE_FILE_BYTES. Checked on the opened file, so a
 * swap after the check changes nothing.
 */
export async function readPrivateFile(file: string): Promise<string | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(file, fs.O_RDONLY | fs.O_NOFOLLOW | fs.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') {
      throw new Error(
        `${file}: is a symbolic link; a secret of the stack is read only from a file of its own (the link's owner would choose or read it). Fix: delete the link`,
      );
    }
    throw error;
  }
  try {
    const s = await handle.stat();
    if (!s.isFile()) throw new Error(`${file}: is not a regular file. Fix: delete it`);
    const uid = process.getuid?.();
    if ((s.mode & 0o077) !== 0 || (uid !== undefined && s.uid !== uid)) {
      throw new Error(
        `${file}: readable by other users or not yours (mode ${(s.mode & 0o777).toString(8)}, owner ${s.uid}): whoever reads it holds the secret. Fix: chmod 600 ${file} (and chown it to the user that runs the command reading it); replace the secret if someone else may have read it`,
      );
    }
    if (s.size > MAX_PRIVATE_FILE_BYTES) {
      throw new Error(
        `${file}: is ${s.size} bytes, more than a secret takes (at most ${MAX_PRIVATE_FILE_BYTES}). Fix: point at the file that holds only the secret`,
      );
    }
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

/** Writes `content` into a NEW file `file`, 0600 under any umask; never over a file or a link. */
export async function writeNewPrivateFile(file: string, content: string): Promise<void> {
  const handle = await open(file, fs.O_WRONLY | fs.O_CREAT | fs.O_EXCL | fs.O_NOFOLLOW, 0o600);
  try {
    await handle.writeFile(content, 'utf8');
    await handle.chmod(0o600);
  } finally {
    await handle.close();
  }
}
