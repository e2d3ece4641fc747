/**
 * Where the payload keys come from.
 *
 * Configured separately (TEMPORAL_CODEC_KEYS) is the production way: the codec server, which sits
 * in the operators' browser path, then never holds ENCRYPTION_KEY (the key that opens every stored
 * device private key), and the two keys rotate on their own schedules.
 *
 * When TEMPORAL_CODEC_KEYS is unset (local `npm start`, tests), one key per ENCRYPTION_KEY /
 * ENCRYPTION_KEYS_PREVIOUS entry is derived, so the stack needs no extra configuration and a
 * rotated ENCRYPTION_KEY keeps old histories readable. The derivation is PBKDF2-SHA256 with
 * 100,000 iterations rather than HKDF: ENCRYPTION_KEY may be a passphrase, and every encrypted
 * payload with a guessable plaintext (`{"plantId":...`) would otherwise be a fast oracle for
 * guessing it. The key id is `ek-<fingerprint of the encryption key>`, the same public
 * fingerprint the stored envelopes already carry.
 */
import { pbkdf2 as pbkdf2Callback } from 'node:crypto';
import { promisify } from 'node:util';
import { createCipher, MIN_KEY_LENGTH, PBKDF2_ITERATIONS } from '../crypto/encryption.js';
import { CODEC_KEY_BYTES, type CodecKey, CodecSettingsError, parseCodecKeys } from './settings.js';

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
    throw new CodecSettingsError([
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

export interface LoadedCodecKeys {
  keys: CodecKey[];
  source: 'TEMPORAL_CODEC_KEYS' | 'derived from ENCRYPTION_KEY';
}

/** TEMPORAL_CODEC_KEYS if set, otherwise keys derived from the encryption keys. */
export async function loadCodecKeys(
  env: Record<string, string | undefined>,
  encryption: EncryptionKeys,
): Promise<LoadedCodecKeys> {
  const configured = parseCodecKeys(env);
  if (configured) return { keys: configured, source: 'TEMPORAL_CODEC_KEYS' };
  return { keys: await deriveCodecKeys(encryption), source: 'derived from ENCRYPTION_KEY' };
}
