/** Encryption: round trip, random salt and IV, tamper detection per envelope region, keys. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  createCipher,
  DecryptionError,
  type DecryptionErrorCode,
  decryptData,
  EncryptionKeyError,
  encryptData,
  generateEncryptionKey,
  inspectEnvelope,
} from '../../src/crypto/encryption.js';

const KEY = generateEncryptionKey();
const OTHER_KEY = generateEncryptionKey();
const PEM = `-----BEGIN PRIVATE KEY-----\n${'MIIEvQIBADANBgkqhkiG9w0BAQEFAASC'.repeat(40)}\n-----END PRIVATE KEY-----\n`;

// Envelope layout (v1): "v1:<16 hex fingerprint>:" + base64(version | salt 16 | iv 12 | ciphertext | tag 16)
const SALT = 1;
const IV = 17;
const BODY = 29;

function split(envelope: string): { prefix: string; bytes: Buffer } {
  const cut = envelope.lastIndexOf(':') + 1;
  return { prefix: envelope.slice(0, cut), bytes: Buffer.from(envelope.slice(cut), 'base64') };
}

function flipByte(envelope: string, offset: (length: number) => number): string {
  const { prefix, bytes } = split(envelope);
  const copy = Buffer.from(bytes);
  const i = offset(copy.length);
  copy[i] = (copy[i] as number) ^ 0x01;
  return prefix + copy.toString('base64');
}

async function decryptionError(promise: Promise<unknown>): Promise<DecryptionError> {
  const err = await promise.then(
    (v) => {
      throw new Error(`decrypted to ${JSON.stringify(v)} instead of failing`);
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DecryptionError);
  return err as DecryptionError;
}

describe('round trip', () => {
  const cipher = createCipher({ currentKey: KEY });

  it.each([
    ['a PEM private key', PEM],
    ['an empty string', ''],
    ['unicode', 'Solaranlage Süd ☀️ 太阳能'],
  ])('encrypts and decrypts %s', async (_name, plaintext) => {
    const envelope = await cipher.encrypt(plaintext);
    expect(envelope).toMatch(/^v1:[0-9a-f]{16}:[A-Za-z0-9+/]+={0,2}$/);
    expect(envelope).not.toContain('PRIVATE KEY');
    await expect(cipher.decrypt(envelope)).resolves.toBe(plaintext);
  });

  it('uses a fresh random salt and IV for every value', async () => {
    const [a, b] = await Promise.all([cipher.encrypt(PEM), cipher.encrypt(PEM)]);
    expect(a).not.toBe(b);
    const [x, y] = [split(a as string).bytes, split(b as string).bytes];
    expect(x.subarray(SALT, IV).equals(y.subarray(SALT, IV))).toBe(false);
    expect(x.subarray(IV, BODY).equals(y.subarray(IV, BODY))).toBe(false);
    expect(x.subarray(BODY).equals(y.subarray(BODY))).toBe(false);
  });

  it('names the key in a readable prefix: the version and a fingerprint that is not the key', async () => {
    const envelope = await cipher.encrypt('x');
    const info = inspectEnvelope(envelope);
    expect(info).toEqual({ version: 1, keyFingerprint: await cipher.currentKeyFingerprint() });
    expect(KEY).not.toContain(info.keyFingerprint);
    expect(split(envelope).bytes[0]).toBe(1); // the version byte
    // deterministic per key, different between keys
    expect(await createCipher({ currentKey: KEY }).currentKeyFingerprint()).toBe(info.keyFingerprint);
    expect(await createCipher({ currentKey: OTHER_KEY }).currentKeyFingerprint()).not.toBe(
      info.keyFingerprint,
    );
  });

  it('derives keys with the async pbkdf2: the event loop keeps turning', async () => {
    const c = createCipher({ currentKey: generateEncryptionKey() });
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    try {
      await Promise.all(Array.from({ length: 4 }, () => c.encrypt('x')));
    } finally {
      clearInterval(timer);
    }
    expect(ticks).toBeGreaterThan(0);
  });

  it('serves repeated decrypts of one value from the derived-key cache', async () => {
    const envelope = await cipher.encrypt(PEM);
    await cipher.decrypt(envelope);
    const t0 = performance.now();
    const all = await Promise.all(Array.from({ length: 50 }, () => cipher.decrypt(envelope)));
    // 50 PBKDF2 runs would take seconds; cached, it is AES only.
    expect(performance.now() - t0).toBeLessThan(500);
    expect(new Set(all)).toEqual(new Set([PEM]));
  });
});

describe('tampering is detected in every region of the envelope', () => {
  const cipher = createCipher({ currentKey: KEY });
  const plaintext = PEM;
  let envelope: string;

  const regions: [string, (length: number) => number][] = [
    ['version byte', () => 0],
    ['salt, first byte', () => SALT],
    ['salt, last byte', () => IV - 1],
    ['IV, first byte', () => IV],
    ['IV, last byte', () => BODY - 1],
    ['ciphertext, first byte', () => BODY],
    ['ciphertext, middle byte', (n) => Math.floor((BODY + n - 16) / 2)],
    ['ciphertext, last byte', (n) => n - 17],
    ['auth tag, first byte', (n) => n - 16],
    ['auth tag, last byte', (n) => n - 1],
  ];

  it.each(regions)('%s', async (_region, offset) => {
    envelope ??= await cipher.encrypt(plaintext);
    const err = await decryptionError(cipher.decrypt(flipByte(envelope, offset)));
    expect(err.code).toBe<DecryptionErrorCode>('AUTHENTICATION_FAILED');
    expect(err.message).toMatch(/modified/);
    expect(err.message).not.toContain('PRIVATE KEY');
  });

  it.each<[string, (e: string) => string, DecryptionErrorCode]>([
    ['a version prefix it does not know', (e) => e.replace(/^v1:/, 'v2:'), 'UNSUPPORTED_VERSION'],
    [
      'a fingerprint of no known key',
      (e) => e.replace(/^v1:(.)/, (_m, c) => `v1:${c === '0' ? '1' : '0'}`),
      'KEY_NOT_FOUND',
    ],
    ['a truncated body', (e) => e.slice(0, e.lastIndexOf(':') + 40), 'MALFORMED'],
    ['a body cut inside the header', (e) => `${e.slice(0, e.lastIndexOf(':') + 1)}AQID`, 'MALFORMED'],
    ['characters that are not base64', (e) => `${e.slice(0, -4)}!!!!`, 'MALFORMED'],
    ['a missing prefix', (e) => e.slice(e.lastIndexOf(':') + 1), 'MALFORMED'],
    [
      'an appended byte',
      (e) =>
        `${e.slice(0, e.lastIndexOf(':') + 1)}${Buffer.concat([split(e).bytes, Buffer.from([0])]).toString('base64')}`,
      'AUTHENTICATION_FAILED',
    ],
    ['not an envelope at all', () => 'mock-certificate-pem', 'MALFORMED'],
  ])('%s', async (_name, tamper, code) => {
    envelope ??= await cipher.encrypt(plaintext);
    const err = await decryptionError(cipher.decrypt(tamper(envelope)));
    expect(err.code).toBe(code);
  });

  it('a fingerprint swapped for another known key fails authentication (the prefix is authenticated)', async () => {
    const both = createCipher({ currentKey: KEY, previousKeys: [OTHER_KEY] });
    envelope ??= await cipher.encrypt(plaintext);
    const otherFp = await createCipher({ currentKey: OTHER_KEY }).currentKeyFingerprint();
    const swapped = envelope.replace(/^v1:[0-9a-f]{16}:/, `v1:${otherFp}:`);
    const err = await decryptionError(both.decrypt(swapped));
    expect(err.code).toBe('AUTHENTICATION_FAILED');
  });
});

describe('keys', () => {
  it('refuses to decrypt with the wrong key, naming the key it needs', async () => {
    const envelope = await createCipher({ currentKey: KEY }).encrypt(PEM);
    const wrong = createCipher({ currentKey: OTHER_KEY });
    const err = await decryptionError(wrong.decrypt(envelope));
    expect(err.code).toBe('KEY_NOT_FOUND');
    expect(err.keyFingerprint).toBe(inspectEnvelope(envelope).keyFingerprint);
    expect(err.message).toContain(inspectEnvelope(envelope).keyFingerprint);
    expect(err.message).toMatch(/ENCRYPTION_KEYS_PREVIOUS/);
    expect(err.message).not.toContain(KEY);
    expect(err.message).not.toContain(OTHER_KEY);
    await expect(decryptData(envelope, OTHER_KEY)).rejects.toBeInstanceOf(DecryptionError);
  });

  it('refuses keys shorter than 32 characters, without echoing them', async () => {
    const short = 'only-31-characters-long-secret!';
    expect(short).toHaveLength(31);
    expect(() => createCipher({ currentKey: short })).toThrow(EncryptionKeyError);
    expect(() => createCipher({ currentKey: short })).toThrow(/31 characters long; at least 32 are required/);
    expect(() => createCipher({ currentKey: '' })).toThrow(/is not set/);
    expect(() => createCipher({ currentKey: KEY, previousKeys: [short] })).toThrow(
      /ENCRYPTION_KEYS_PREVIOUS entry 1/,
    );
    await expect(encryptData('x', short)).rejects.toThrow(EncryptionKeyError);
    await expect(decryptData('v1:0000000000000000:AAAA', [short])).rejects.toThrow(EncryptionKeyError);
    try {
      createCipher({ currentKey: short });
    } catch (err) {
      expect((err as Error).message).not.toContain(short);
    }
    expect(() => createCipher({ currentKey: 'x'.repeat(32) })).not.toThrow();
  });

  it('decrypts with previous keys during a rotation and re-encrypts under the current key', async () => {
    const oldKey = generateEncryptionKey();
    const before = createCipher({ currentKey: oldKey });
    const oldEnvelope = await before.encrypt(PEM);

    const rotating = createCipher({ currentKey: KEY, previousKeys: [oldKey] });
    await expect(rotating.decrypt(oldEnvelope)).resolves.toBe(PEM);
    expect(await rotating.needsReencryption(oldEnvelope)).toBe(true);
    expect(await rotating.keyFingerprints()).toEqual([
      await rotating.currentKeyFingerprint(),
      await before.currentKeyFingerprint(),
    ]);

    const fresh = await rotating.reencrypt(oldEnvelope);
    expect(inspectEnvelope(fresh).keyFingerprint).toBe(await rotating.currentKeyFingerprint());
    expect(await rotating.needsReencryption(fresh)).toBe(false);
    expect(await rotating.reencrypt(fresh)).toBe(fresh);
    // after the rotation the old key can go
    await expect(createCipher({ currentKey: KEY }).decrypt(fresh)).resolves.toBe(PEM);
    // and new values are never written under a previous key
    expect(inspectEnvelope(await rotating.encrypt('y')).keyFingerprint).toBe(
      await rotating.currentKeyFingerprint(),
    );
    // the seed-style function takes the same list, current first
    await expect(decryptData(oldEnvelope, [KEY, oldKey])).resolves.toBe(PEM);
  });

  it('generateEncryptionKey makes 64 hex characters, different every time', () => {
    const keys = new Set(Array.from({ length: 20 }, generateEncryptionKey));
    expect(keys.size).toBe(20);
    for (const k of keys) expect(k).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('seed-compatible API', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('encryptData / decryptData with an explicit key', async () => {
    const envelope = await encryptData('sensitive-data', KEY);
    await expect(decryptData(envelope, KEY)).resolves.toBe('sensitive-data');
  });

  it('encryptData / decryptData with ENCRYPTION_KEY from the configuration', async () => {
    // The first call loads the configuration from process.env (once per process).
    vi.stubEnv('ENCRYPTION_KEY', KEY);
    vi.stubEnv('ENCRYPTION_KEYS_PREVIOUS', OTHER_KEY);
    const envelope = await encryptData('sensitive-data');
    expect(inspectEnvelope(envelope).keyFingerprint).toBe(
      await createCipher({ currentKey: KEY }).currentKeyFingerprint(),
    );
    await expect(decryptData(envelope)).resolves.toBe('sensitive-data');
    await expect(decryptData(await encryptData('old', OTHER_KEY))).resolves.toBe('old');
  });
});
