/**
 * Encryption of secrets at rest (device private keys, certificate PEMs): AES-256-GCM with a key of
 * its own for every value.
 *
 * Envelope, one ASCII string (v2 is written, v1 and v2 are read):
 *
 *   v2:<fingerprint: 16 hex>:<base64( version(1)=0x02 | salt(16) | iv(12) | ciphertext(n) | tag(16) )>
 *   v1:<fingerprint: 16 hex>:<base64( version(1)=0x01 | salt(16) | iv(12) | ciphertext(n) | tag(16) )>
 *
 * Keys:
 * - v2: KEK = PBKDF2-SHA256(ENCRYPTION_KEY, "solar-iot/kek/v2", 100,000 iterations, 32 bytes),
 *   computed once per key per process (a cached Promise on the async crypto.pbkdf2, libuv pool);
 *   the value key = HKDF-SHA256(KEK, salt, "solar-iot/envelope/v2", 32 bytes).
 * - v1 (legacy, read only): the value key = PBKDF2-SHA256(ENCRYPTION_KEY, salt, 100,000, 32 bytes),
 *   one PBKDF2 per value (~44 ms of CPU), with derived keys cached per (key, salt) in a small LRU.
 *   v1 cost two PBKDF2 runs per provisioned plant (key and certificate PEM); v2 costs none after
 *   the first value.
 *
 * Why v2 is as strong as v1 against guessing the passphrase: testing a guess still costs 100,000
 * PBKDF2 iterations (the KEK), and nothing cheaper decides whether a guess is right. The KEK's salt
 * is fixed, so an attacker may precompute KEKs for a dictionary once for every deployment; but the
 * fingerprint in every envelope (below) is already a PBKDF2 of the key with a fixed salt, so v1
 * gave that same precomputation and v2 adds nothing to it. The random per-value salt through HKDF
 * still gives every value its own AES key, so GCM's random-IV limits apply per value (one IV per
 * key), not across all values. HKDF is a few HMAC blocks (microseconds), so it runs inline.
 *
 * Envelope fields:
 * - The readable `v<version>:<fingerprint>:` prefix names the format and the key that encrypted
 *   the value, so a rotation or a format migration finds what still needs rewriting with plain SQL
 *   (`WHERE encrypted_private_key NOT LIKE currentEnvelopePrefix(<current fingerprint>) || '%'`),
 *   and a failed decryption can say which key it needs.
 * - The fingerprint (the same in v1 and v2) is the first 8 bytes of PBKDF2-SHA256(key,
 *   "solar-iot/key-fingerprint/v1", 100,000): as slow to test a guess against as the ciphertext
 *   itself, so it gives a weak passphrase no shortcut (a plain sha256 prefix would let guesses be
 *   checked at hash speed).
 * - The version byte and the fingerprint are GCM additional authenticated data: changing any byte
 *   of the envelope (version, fingerprint, salt, IV, ciphertext, tag) fails authentication.
 */
import {
  createCipheriv,
  createDecipheriv,
  hkdfSync,
  pbkdf2 as pbkdf2Callback,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import { promisify } from 'node:util';

const pbkdf2 = promisify(pbkdf2Callback);

/** The envelope version encrypt() writes. */
export const ENVELOPE_VERSION = 2;
/** Envelope versions decrypt() reads. */
export const SUPPORTED_ENVELOPE_VERSIONS: readonly number[] = [1, 2];
export const PBKDF2_ITERATIONS = 100_000;
export const MIN_KEY_LENGTH = 32;
const SALT_BYTES = 16;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const DERIVED_KEY_BYTES = 32;
const FINGERPRINT_BYTES = 8;
const FINGERPRINT_SALT = Buffer.from('solar-iot/key-fingerprint/v1');
const KEK_SALT = Buffer.from('solar-iot/kek/v2');
const HKDF_INFO = Buffer.from('solar-iot/envelope/v2');
const HEADER_BYTES = 1 + SALT_BYTES + IV_BYTES;
// The version in canonical decimal only (no `v02:`), so the prefix of a value is exactly one string.
const ENVELOPE_RE = /^v(0|[1-9]\d*):([0-9a-f]{16}):([A-Za-z0-9+/]+={0,2})$/;

/** A key is missing, too short or otherwise unusable. The message never contains the key. */
export class EncryptionKeyError extends Error {
  override readonly name = 'EncryptionKeyError';
}

export type DecryptionErrorCode =
  /** Not an envelope this code produced (truncated, not base64, wrong shape). */
  | 'MALFORMED'
  /** A format version this code does not know. */
  | 'UNSUPPORTED_VERSION'
  /** Encrypted under a key that is neither the current nor a previous key. */
  | 'KEY_NOT_FOUND'
  /** Authentication failed: the data was modified, or the key with this fingerprint is wrong. */
  | 'AUTHENTICATION_FAILED';

/** Decryption refused. Never carries the ciphertext, the plaintext or a key. */
export class DecryptionError extends Error {
  override readonly name = 'DecryptionError';
  constructor(
    readonly code: DecryptionErrorCode,
    message: string,
    /** Fingerprint of the key the envelope says it was encrypted with, when readable. */
    readonly keyFingerprint?: string,
  ) {
    super(message);
  }
}

export interface CipherOptions {
  /** Encrypts new values and decrypts. At least 32 characters. */
  currentKey: string;
  /** Decrypt-only keys, during a rotation. Each at least 32 characters. */
  previousKeys?: readonly string[];
  /** v1 derived keys kept in memory (default 512). */
  cacheSize?: number;
  /**
   * @internal Tests and benchmarks only: the envelope version encrypt() writes (default and only
   * production value: ENVELOPE_VERSION). 1 reproduces the legacy per-value PBKDF2 envelopes;
   * reencrypt() writes ENVELOPE_VERSION regardless.
   */
  writeVersion?: 1 | 2;
}

export interface EnvelopeInfo {
  version: number;
  /** Fingerprint of the key it was encrypted with (16 hex characters). */
  keyFingerprint: string;
}

export interface Cipher {
  encrypt(plaintext: string): Promise<string>;
  /** Tries the key named by the envelope's fingerprint; throws `DecryptionError`, never garbage. */
  decrypt(envelope: string): Promise<string>;
  /** Fingerprint of the current key (16 hex characters, not secret). */
  currentKeyFingerprint(): Promise<string>;
  /** Fingerprints of all keys, current first. */
  keyFingerprints(): Promise<string[]>;
  /**
   * True when the value should be rewritten: under a previous key (rotation), or in an older
   * envelope version than ENVELOPE_VERSION (a v1 value under the current key too).
   */
  needsReencryption(envelope: string): Promise<boolean>;
  /**
   * Decrypts with whichever key fits and encrypts under the current key in the current version
   * (returns the envelope unchanged when it is both already).
   */
  reencrypt(envelope: string): Promise<string>;
}

function assertKey(key: unknown, what: string): asserts key is string {
  if (typeof key !== 'string' || key.length === 0) {
    throw new EncryptionKeyError(
      `${what} is not set: set ENCRYPTION_KEY to at least ${MIN_KEY_LENGTH} random characters (generateEncryptionKey())`,
    );
  }
  if (key.length < MIN_KEY_LENGTH) {
    throw new EncryptionKeyError(
      `${what} is ${key.length} characters long; at least ${MIN_KEY_LENGTH} are required (generateEncryptionKey() makes one)`,
    );
  }
}

/**
 * The prefix every value encrypted under the key with this fingerprint in the current version
 * starts with (`v2:<fingerprint>:`): what does not start with it needs re-encryption.
 */
export function currentEnvelopePrefix(fingerprint: string): string {
  return `v${ENVELOPE_VERSION}:${fingerprint}:`;
}

/** Reads the unauthenticated header of an envelope (format and key fingerprint) without any key. */
export function inspectEnvelope(envelope: string): EnvelopeInfo {
  const m = typeof envelope === 'string' ? ENVELOPE_RE.exec(envelope) : null;
  if (!m) {
    throw new DecryptionError(
      'MALFORMED',
      'not an encrypted envelope (expected v<version>:<fingerprint>:<base64>)',
    );
  }
  return { version: Number(m[1]), keyFingerprint: m[2] as string };
}

class LruCache<V> {
  private readonly map = new Map<string, V>();
  constructor(private readonly max: number) {}
  get(k: string): V | undefined {
    const v = this.map.get(k);
    if (v !== undefined) {
      this.map.delete(k);
      this.map.set(k, v);
    }
    return v;
  }
  set(k: string, v: V): void {
    this.map.delete(k);
    this.map.set(k, v);
    if (this.map.size > this.max) {
      const oldest = this.map.keys().next().value;
      if (oldest !== undefined) this.map.delete(oldest);
    }
  }
  delete(k: string): void {
    this.map.delete(k);
  }
}

interface KeySlot {
  readonly secret: Buffer;
  fingerprint?: Promise<string>;
  /** v2 key-encryption key: one PBKDF2 per key per process, shared by concurrent callers. */
  kek?: Promise<Buffer>;
}

/** Creates the cipher the application uses: keys injected, nothing read from the environment. */
export function createCipher(options: CipherOptions): Cipher {
  assertKey(options.currentKey, 'ENCRYPTION_KEY');
  const previous = options.previousKeys ?? [];
  for (const [i, k] of previous.entries()) assertKey(k, `ENCRYPTION_KEYS_PREVIOUS entry ${i + 1}`);
  const slots: KeySlot[] = [...new Set([options.currentKey, ...previous])].map((k) => ({
    secret: Buffer.from(k, 'utf8'),
  }));
  const current = slots[0] as KeySlot;
  const writeVersion = options.writeVersion ?? ENVELOPE_VERSION;
  if (writeVersion !== 1 && writeVersion !== 2) throw new TypeError('writeVersion must be 1 or 2');
  // v1: promises, so concurrent decrypts of one value share one PBKDF2 run.
  const derived = new LruCache<Promise<Buffer>>(options.cacheSize ?? 512);

  const fingerprintOf = (slot: KeySlot): Promise<string> => {
    slot.fingerprint ??= pbkdf2(
      slot.secret,
      FINGERPRINT_SALT,
      PBKDF2_ITERATIONS,
      FINGERPRINT_BYTES,
      'sha256',
    ).then((b) => b.toString('hex'));
    return slot.fingerprint;
  };

  const kekOf = (slot: KeySlot): Promise<Buffer> => {
    if (!slot.kek) {
      const p = pbkdf2(slot.secret, KEK_SALT, PBKDF2_ITERATIONS, DERIVED_KEY_BYTES, 'sha256');
      slot.kek = p;
      p.catch(() => {
        if (slot.kek === p) slot.kek = undefined;
      });
    }
    return slot.kek;
  };

  /** v2: HKDF from the cached KEK (a few HMAC blocks: inline, no pool round trip). */
  const deriveKeyV2 = async (slot: KeySlot, salt: Buffer): Promise<Buffer> =>
    Buffer.from(hkdfSync('sha256', await kekOf(slot), salt, HKDF_INFO, DERIVED_KEY_BYTES));

  /** v1: PBKDF2 per value, cached per (key, salt). */
  const deriveKeyV1 = (slot: KeySlot, salt: Buffer): Promise<Buffer> => {
    const cacheKey = `${slots.indexOf(slot)}:${salt.toString('hex')}`;
    let p = derived.get(cacheKey);
    if (!p) {
      p = pbkdf2(slot.secret, salt, PBKDF2_ITERATIONS, DERIVED_KEY_BYTES, 'sha256');
      p.catch(() => derived.delete(cacheKey));
      derived.set(cacheKey, p);
    }
    return p;
  };

  const findSlot = async (fingerprint: string): Promise<KeySlot | undefined> => {
    const wanted = Buffer.from(fingerprint, 'hex');
    for (const slot of slots) {
      if (timingSafeEqual(Buffer.from(await fingerprintOf(slot), 'hex'), wanted)) return slot;
    }
    return undefined;
  };

  const deriveKey = (version: number, slot: KeySlot, salt: Buffer): Promise<Buffer> =>
    version === 1 ? deriveKeyV1(slot, salt) : deriveKeyV2(slot, salt);

  const aad = (version: number, fingerprint: string) =>
    Buffer.concat([Buffer.from([version]), Buffer.from(fingerprint, 'hex')]);

  const seal = async (plaintext: string, version: number): Promise<string> => {
    if (typeof plaintext !== 'string') throw new TypeError('encrypt() takes a string');
    const salt = randomBytes(SALT_BYTES);
    const iv = randomBytes(IV_BYTES);
    const [fingerprint, key] = await Promise.all([fingerprintOf(current), deriveKey(version, current, salt)]);
    const gcm = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    gcm.setAAD(aad(version, fingerprint));
    const body = Buffer.concat([gcm.update(plaintext, 'utf8'), gcm.final()]);
    const bytes = Buffer.concat([Buffer.from([version]), salt, iv, body, gcm.getAuthTag()]);
    return `v${version}:${fingerprint}:${bytes.toString('base64')}`;
  };

  const encrypt = (plaintext: string): Promise<string> => seal(plaintext, writeVersion);

  const decrypt = async (envelope: string): Promise<string> => {
    const { version, keyFingerprint } = inspectEnvelope(envelope);
    if (!SUPPORTED_ENVELOPE_VERSIONS.includes(version)) {
      throw new DecryptionError(
        'UNSUPPORTED_VERSION',
        `envelope version ${version} is not supported`,
        keyFingerprint,
      );
    }
    const base64 = envelope.slice(envelope.lastIndexOf(':') + 1);
    const bytes = Buffer.from(base64, 'base64');
    if (bytes.toString('base64') !== base64) {
      throw new DecryptionError('MALFORMED', 'envelope is not canonical base64', keyFingerprint);
    }
    if (bytes.length < HEADER_BYTES + TAG_BYTES) {
      throw new DecryptionError('MALFORMED', 'envelope is truncated', keyFingerprint);
    }
    if (bytes[0] !== version) {
      throw new DecryptionError(
        'AUTHENTICATION_FAILED',
        'envelope version byte does not match its prefix: the data was modified',
        keyFingerprint,
      );
    }
    const slot = await findSlot(keyFingerprint);
    if (!slot) {
      throw new DecryptionError(
        'KEY_NOT_FOUND',
        `encrypted with key ${keyFingerprint}, which is neither ENCRYPTION_KEY (${await fingerprintOf(current)}) nor in ENCRYPTION_KEYS_PREVIOUS: add that key to ENCRYPTION_KEYS_PREVIOUS`,
        keyFingerprint,
      );
    }
    const salt = bytes.subarray(1, 1 + SALT_BYTES);
    const iv = bytes.subarray(1 + SALT_BYTES, HEADER_BYTES);
    const body = bytes.subarray(HEADER_BYTES, bytes.length - TAG_BYTES);
    const tag = bytes.subarray(bytes.length - TAG_BYTES);
    const key = await deriveKey(version, slot, Buffer.from(salt));
    try {
      const gcm = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
      gcm.setAAD(aad(version, keyFingerprint));
      gcm.setAuthTag(tag);
      return Buffer.concat([gcm.update(body), gcm.final()]).toString('utf8');
    } catch {
      throw new DecryptionError(
        'AUTHENTICATION_FAILED',
        `authentication failed for data encrypted with key ${keyFingerprint}: the data was modified or corrupted`,
        keyFingerprint,
      );
    }
  };

  const needsReencryption = async (envelope: string): Promise<boolean> => {
    const { version, keyFingerprint } = inspectEnvelope(envelope);
    return version !== ENVELOPE_VERSION || keyFingerprint !== (await fingerprintOf(current));
  };

  return {
    encrypt,
    decrypt,
    currentKeyFingerprint: () => fingerprintOf(current),
    keyFingerprints: () => Promise.all(slots.map(fingerprintOf)),
    needsReencryption,
    async reencrypt(envelope) {
      const plaintext = await decrypt(envelope);
      if (!(await needsReencryption(envelope))) return envelope;
      return seal(plaintext, ENVELOPE_VERSION);
    },
  };
}

/** A new random ENCRYPTION_KEY: 32 random bytes as 64 hex characters. */
export function generateEncryptionKey(): string {
  return randomBytes(32).toString('hex');
}

// ---------------------------------------------------------------------------------------------
// The seed's encryption functions, which its callers use. Without an explicit key they use the
// process configuration (ENCRYPTION_KEY, ENCRYPTION_KEYS_PREVIOUS), loaded lazily on first use.
// ---------------------------------------------------------------------------------------------

const ciphers = new Map<string, Cipher>();
let defaultCipher: Promise<Cipher> | undefined;

function cipherFor(keys: readonly string[]): Cipher {
  const id = JSON.stringify(keys);
  let c = ciphers.get(id);
  if (!c) {
    c = createCipher({ currentKey: keys[0] as string, previousKeys: keys.slice(1) });
    if (ciphers.size >= 8) ciphers.clear();
    ciphers.set(id, c);
  }
  return c;
}

function getDefaultCipher(): Promise<Cipher> {
  defaultCipher ??= import('../config/index.js').then(({ getConfig }) => {
    const { currentKey, previousKeys } = getConfig().encryption;
    assertKey(currentKey, 'ENCRYPTION_KEY');
    return createCipher({ currentKey, previousKeys });
  });
  defaultCipher.catch(() => {
    defaultCipher = undefined;
  });
  return defaultCipher;
}

/** Encrypts with `key`, or with ENCRYPTION_KEY from the configuration. */
export async function encryptData(plaintext: string, key?: string): Promise<string> {
  if (key !== undefined) {
    assertKey(key, 'the encryption key');
    return cipherFor([key]).encrypt(plaintext);
  }
  return (await getDefaultCipher()).encrypt(plaintext);
}

/**
 * Decrypts with `keys` (one key, or current first then previous ones), or with ENCRYPTION_KEY and
 * ENCRYPTION_KEYS_PREVIOUS from the configuration.
 */
export async function decryptData(ciphertext: string, keys?: string | readonly string[]): Promise<string> {
  if (keys !== undefined) {
    const list = typeof keys === 'string' ? [keys] : keys;
    if (list.length === 0) throw new EncryptionKeyError('decryptData() was given an empty key list');
    for (const [i, k] of list.entries()) assertKey(k, `decryption key ${i + 1}`);
    return cipherFor(list).decrypt(ciphertext);
  }
  return (await getDefaultCipher()).decrypt(ciphertext);
}
