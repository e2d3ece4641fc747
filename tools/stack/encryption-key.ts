/** ENCRYPTION_KEY of the local stack: from the environment, or generated once into <data>/encryption.key. */
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { MIN_KEY_LENGTH } from '../../src/crypto/encryption.js';
import { readPrivateFile, writeNewPrivateFile } from '../../src/secrets/private-file.js';

export async function stackEncryptionKey(
  env: Record<string, string | undefined>,
  dataDir: string,
): Promise<{ key: string; source: string; file?: string }> {
  if (env.ENCRYPTION_KEY) return { key: env.ENCRYPTION_KEY, source: 'ENCRYPTION_KEY' };
  const file = join(dataDir, 'encryption.key');
  const existing = await readPrivateFile(file);
  if (existing !== undefined) {
    const key = existing.trim();
    if (key.length >= MIN_KEY_LENGTH) return { key, source: file, file };
    // Never replaced: a new key cannot decrypt a single stored private key written under the old one.
    throw new Error(
      `${file}: holds ${key.length} characters, not a key of at least ${MIN_KEY_LENGTH} (cut short or emptied). Fix: restore it from a backup of the data folder, or set ENCRYPTION_KEY; delete it only if the database holds no stored private keys`,
    );
  }
  const key = randomBytes(32).toString('hex');
  await mkdir(dataDir, { recursive: true });
  await writeNewPrivateFile(file, `${key}\n`);
  return { key, source: `${file} (new)`, file };
}
