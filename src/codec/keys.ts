/**
 * Where the payload keys come from.
 *
 * Configured separately (TEMPORAL_CODEC_KEYS) is the production way: the codec server, which sits
 * in the operators' browser path, then never holds ENCRYPTION_KEY (the key that opens every stored
 * device private key), and the two keys rotate on their own schedules.
 *
 * `npm start` sets TEMPORAL_CODEC_KEYS too, from <data>/codec.keys (local.ts).
 *
 * Only when TEMPORAL_CODEC_KEYS is unset (a process started by hand, tests), one key per
 * ENCRYPTION_KEY / ENCRYPTION_KEYS_PREVIOUS entry is derived: a fallback that ties the two
 * lifecycles (dropping an old ENCRYPTION_KEY makes the histories written under its codec key
 * undecodable), so it says so (DERIVED_KEYS_WARNING) in the log of whoever uses it. The derivation is PBKDF2-SHA256 with
 * 100,000 iterations rather than HKDF: ENCRYPTION_KEY may be a passphrase, and every encrypted
 * payload with a guessable plaintext (`{"plantId":...`) would otherwise be a fast oracle for
 * guessing it. The key id is `ek-<fingerprint of the encryption key>`, the same public
 * fingerprint the stored envelopes already carry.
 */
import { pbkdf2 as pbkdf2Callback } from 'node:crypto';
import { promisify } from 'node:util';
import { ConfigError } from '../config/index.js';
import { createCipher, MIN_KEY_LENGTH, PBKDF2_ITERATIONS } from '../crypto/encryption.js';
import { CODEC_KEY_BYTES, type CodecKey } from './settings.js';

const pbkdf2 = promisify(pbkdf2Callback);
const DERIVATION_SALT = Buffer.from('solar-iot/temporal-payload-codec/v1');

export interface EncryptionKeys {
  currentKey: string | undefined;
  previousKeys: readonly string[];
}

/** Codec keys derived from the storage encryption keys (current first). */
export async function deriveCodecKeys(encryption: EncryptionKeys): Promise<CodecKey[]> {
  const { currentKey, previousKeys } = encryption;
  if (!currentKey || currentKey.length < MIN_KEY_LENGTH) {
    throw new ConfigError([
      `TEMPORAL_CODEC_KEYS: is not set, and ENCRYPTION_KEY (to derive a payload key from) is ${currentKey ? 'too short' : 'not set either'}. Fix: set TEMPORAL_CODEC_KEYS=<id>:<32 random bytes as base64>, or ENCRYPTION_KEY to at least ${MIN_KEY_LENGTH} random characters`,
    ]);
  }
  const fingerprints = await createCipher({ currentKey, previousKeys: [...previousKeys] }).keyFingerprints();
  const secrets = [...new Set([currentKey, ...previousKeys])];
  return Promise.all(
    secrets.map(async (secret, i) => ({
      id: `ek-${fingerprints[i]}`,
      key: await pbkdf2(secret, DERIVATION_SALT, PBKDF2_ITERATIONS, CODEC_KEY_BYTES, 'sha256'),
    })),
  );
}

export const DERIVED_KEYS_WARNING =
  'TEMPORAL_CODEC_KEYS is not set: payload keys are derived from ENCRYPTION_KEY, which ties their lifecycle to the at-rest key (dropping an old ENCRYPTION_KEY from ENCRYPTION_KEYS_PREVIOUS makes open workflows, schedules and retained histories under its ek-<fingerprint> key undecodable). Set TEMPORAL_CODEC_KEYS (npm start does, from .data/codec.keys)';

export interface LoadedCodecKeys {
  keys: CodecKey[];
  source: 'TEMPORAL_CODEC_KEYS' | 'derived from ENCRYPTION_KEY';
  /** Set when the keys are derived: what that means for key rotation. */
  warning?: string;
}

/** The configured keys (TEMPORAL_CODEC_KEYS) if any, otherwise keys derived from the encryption keys. */
export async function loadCodecKeys(
  configured: readonly CodecKey[] | undefined,
  encryption: EncryptionKeys,
): Promise<LoadedCodecKeys> {
  if (configured) return { keys: [...configured], source: 'TEMPORAL_CODEC_KEYS' };
  return {
    keys: await deriveCodecKeys(encryption),
    source: 'derived from ENCRYPTION_KEY',
    warning: DERIVED_KEYS_WARNING,
  };
}
