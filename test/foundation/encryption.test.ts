/**
 * Encryption: round trip, random salt and IV, tamper detection per envelope region, keys, the v2
 * key derivation (one PBKDF2 per key per process) and reading v1 envelopes.
 */
import { createDecipheriv, hkdfSync, pbkdf2Sync } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  createCipher,
  currentEnvelopePrefix,
  DecryptionError,
  type DecryptionErrorCode,
  decryptData,
  ENVELOPE_VERSION,
  EncryptionKeyError,
  encryptData,
  generateEncryptionKey,
  inspectEnvelope,
  PBKDF2_ITERATIONS,
} from '../../src/crypto/encryption.js';

// Every crypto.pbkdf2 run, by salt: counts runs without timing them.
const pbkdf2Salts = vi.hoisted(() => [] as string[]);
vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  const pbkdf2 = ((...args: Parameters<typeof actual.pbkdf2>) => {
    pbkdf2Salts.push(Buffer.from(args[1] as Uint8Array).toString('latin1'));
    return actual.pbkdf2(...args);
  }) as typeof actual.pbkdf2;
  return { ...actual, default: { ...actual, pbkdf2 }, pbkdf2 };
});
const KEK_SALT = 'solar-iot/kek/v2';
const FINGERPRINT_SALT = 'solar-iot/key-fingerprint/v1';

/** PBKDF2 runs made while `fn` runs, by kind. */
async function pbkdf2Runs(
  fn: () => Promise<unknown>,
): Promise<{ kek: number; fingerprint: number; perValue: number }> {
  const before = pbkdf2Salts.length;
  await fn();
  const runs = pbkdf2Salts.slice(before);
  const kek = runs.filter((s) => s === KEK_SALT).length;
  const fingerprint = runs.filter((s) => s === FINGERPRINT_SALT).length;
  return { kek, fingerprint, perValue: runs.length - kek - fingerprint };
}

/**
 * Made once by the v1 code (commit 026c2a4, before v2 existed) and pasted here: v1 envelopes
 * already stored must keep opening.
 */
const V1_VECTOR = {
  key: 'solar-iot test vector key: v1 envelope compatibility',
  fingerprint: '574c87656cea6f16',
  plaintext:
    '-----BEGIN PRIVATE KEY-----\nv1 test vector, made by the v1 code (commit 026c2a4)\n-----END PRIVATE KEY-----\n',
  envelope:
    'v1:574c87656cea6f16:AdIiJ5GStBnazY69XV1Z2EsNUpTWv14CLNHfcMxLK75nL9zTW+0Os5bzgf6LYyItRNZrkZYCDMbqd6E/3dpnuSwrbu7BCDuRseO8oqiTUt49lFr0WquNDLaLg16bH0icOqrzX7SM4WVQ/5w2WFGqtLhu0XeiRZxGMUcGLAQmvyAaLRLFPQNpkOmmlNNdDojcZrIc7ZvgsgM=',
};

const KEY = generateEncryptionKey();
const OTHER_KEY = generateEncryptionKey();
const PEM = `-----BEGIN PRIVATE KEY-----\n${'MIIEvQIBADANBgkqhkiG9w0BAQEFAASC'.repeat(40)}\n-----END PRIVATE KEY-----\n`;

// Envelope layout (v1 and v2): "v<n>:<16 hex fingerprint>:" + base64(version | salt 16 | iv 12 | ciphertext | tag 16)
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
    expect(envelope).toMatch(/^v2:[0-9a-f]{16}:[A-Za-z0-9+/]+={0,2}$/);
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
    expect(info).toEqual({ version: 2, keyFingerprint: await cipher.currentKeyFingerprint() });
    expect(ENVELOPE_VERSION).toBe(2);
    expect(envelope.startsWith(currentEnvelopePrefix(info.keyFingerprint))).toBe(true);
    expect(KEY).not.toContain(info.keyFingerprint);
    expect(split(envelope).bytes[0]).toBe(2); // the version byte
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

  it('v1: serves repeated decrypts of one value from the derived-key cache', async () => {
    const v1 = createCipher({ currentKey: KEY, writeVersion: 1 });
    const envelope = await v1.encrypt(PEM);
    expect(inspectEnvelope(envelope).version).toBe(1);
    let all: string[] = [];
    const runs = await pbkdf2Runs(async () => {
      all = await Promise.all(Array.from({ length: 50 }, () => v1.decrypt(envelope)));
    });
    expect(runs).toEqual({ kek: 0, fingerprint: 0, perValue: 0 });
    expect(new Set(all)).toEqual(new Set([PEM]));
  });
});

describe('v2 key derivation', () => {
  it('runs PBKDF2 once per key however many values are encrypted and decrypted', async () => {
    const key = generateEncryptionKey();
    const c = createCipher({ currentKey: key });
    let envelopes: string[] = [];
    const first = await pbkdf2Runs(async () => {
      envelopes = await Promise.all(Array.from({ length: 20 }, (_, i) => c.encrypt(`value ${i}`)));
    });
    // Concurrent first callers share one KEK run (and the fingerprint's one run).
    expect(first).toEqual({ kek: 1, fingerprint: 1, perValue: 0 });
    const more = await pbkdf2Runs(async () => {
      for (let i = 0; i < 20; i++) envelopes.push(await c.encrypt(`more ${i}`));
      const plain = await Promise.all(envelopes.map((e) => c.decrypt(e)));
      expect(plain[0]).toBe('value 0');
      expect(plain[39]).toBe('more 19');
    });
    expect(more).toEqual({ kek: 0, fingerprint: 0, perValue: 0 });

    // A rotation: values under the previous key cost that key's fingerprint and KEK, once each.
    const oldKey = generateEncryptionKey();
    const before = createCipher({ currentKey: oldKey });
    const old = await Promise.all(Array.from({ length: 10 }, (_, i) => before.encrypt(`old ${i}`)));
    const rotating = createCipher({ currentKey: key, previousKeys: [oldKey] });
    const rotation = await pbkdf2Runs(async () => {
      const fresh = await Promise.all(old.map((e) => rotating.reencrypt(e)));
      expect(await Promise.all(fresh.map((e) => rotating.decrypt(e)))).toEqual(
        Array.from({ length: 10 }, (_, i) => `old ${i}`),
      );
    });
    expect(rotation).toEqual({ kek: 2, fingerprint: 2, perValue: 0 });
  });

  it('follows the specification: KEK by PBKDF2 with the fixed salt, value key by HKDF, authenticated prefix', async () => {
    const envelope = await createCipher({ currentKey: KEY }).encrypt(PEM);
    const { prefix, bytes } = split(envelope);
    const fingerprint = pbkdf2Sync(KEY, FINGERPRINT_SALT, PBKDF2_ITERATIONS, 8, 'sha256').toString('hex');
    expect(prefix).toBe(`v2:${fingerprint}:`);
    const kek = pbkdf2Sync(KEY, KEK_SALT, PBKDF2_ITERATIONS, 32, 'sha256');
    const key = Buffer.from(
      hkdfSync('sha256', kek, bytes.subarray(SALT, IV), Buffer.from('solar-iot/envelope/v2'), 32),
    );
    const gcm = createDecipheriv('aes-256-gcm', key, bytes.subarray(IV, BODY), { authTagLength: 16 });
    gcm.setAAD(Buffer.concat([Buffer.from([2]), Buffer.from(fingerprint, 'hex')]));
    gcm.setAuthTag(bytes.subarray(bytes.length - 16));
    const plain = Buffer.concat([gcm.update(bytes.subarray(BODY, bytes.length - 16)), gcm.final()]);
    expect(plain.toString('utf8')).toBe(PEM);
  });
});

describe.each([
  [2, 'v2'],
  [1, 'v1 (legacy, still read)'],
] as const)('tampering is detected in every region of the envelope: %i', (version, _name) => {
  const cipher = createCipher({ currentKey: KEY, writeVersion: version });
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
    expect(inspectEnvelope(envelope).version).toBe(version);
    const err = await decryptionError(cipher.decrypt(flipByte(envelope, offset)));
    expect(err.code).toBe<DecryptionErrorCode>('AUTHENTICATION_FAILED');
    expect(err.message).toMatch(/modified/);
    expect(err.message).not.toContain('PRIVATE KEY');
  });

  const v = `v${version}:`;
  it.each<[string, (e: string) => string, DecryptionErrorCode]>([
    ['a version prefix it does not know', (e) => e.replace(v, 'v9:'), 'UNSUPPORTED_VERSION'],
    ['a version prefix with a leading zero', (e) => e.replace(v, `v0${version}:`), 'MALFORMED'],
    [
      'a fingerprint of no known key',
      (e) => e.replace(new RegExp(`^${v}(.)`), (_m, c) => `${v}${c === '0' ? '1' : '0'}`),
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
    [
      'the other version in the prefix only',
      (e) => e.replace(v, version === 2 ? 'v1:' : 'v2:'),
      'AUTHENTICATION_FAILED',
    ],
    [
      'the other version in the prefix and the version byte (the version is authenticated)',
      (e) => {
        const other = version === 2 ? 1 : 2;
        const { bytes } = split(e);
        const copy = Buffer.from(bytes);
        copy[0] = other;
        return `v${other}:${inspectEnvelope(e).keyFingerprint}:${copy.toString('base64')}`;
      },
      'AUTHENTICATION_FAILED',
    ],
  ])('%s', async (_name, tamper, code) => {
    envelope ??= await cipher.encrypt(plaintext);
    const err = await decryptionError(cipher.decrypt(tamper(envelope)));
    expect(err.code).toBe(code);
  });

  it('a fingerprint swapped for another known key fails authentication (the prefix is authenticated)', async () => {
    const both = createCipher({ currentKey: KEY, previousKeys: [OTHER_KEY] });
    envelope ??= await cipher.encrypt(plaintext);
    const otherFp = await createCipher({ currentKey: OTHER_KEY }).currentKeyFingerprint();
    const swapped = envelope.replace(/^v\d:[0-9a-f]{16}:/, `${v}${otherFp}:`);
    expect(swapped).not.toBe(envelope);
    const err = await decryptionError(both.decrypt(swapped));
    expect(err.code).toBe('AUTHENTICATION_FAILED');
  });
});

it('v2: changing any single byte of the envelope body fails authentication', async () => {
  const cipher = createCipher({ currentKey: KEY });
  const envelope = await cipher.encrypt('short secret');
  const { bytes } = split(envelope);
  expect(bytes.length).toBe(BODY + 'short secret'.length + 16);
  for (let i = 0; i < bytes.length; i++) {
    for (const mask of [0x01, 0x80]) {
      const { prefix } = split(envelope);
      const copy = Buffer.from(bytes);
      copy[i] = (copy[i] as number) ^ mask;
      const err = await decryptionError(cipher.decrypt(prefix + copy.toString('base64')));
      expect(err.code, `byte ${i} ^ ${mask}`).toBe('AUTHENTICATION_FAILED');
    }
  }
  await expect(cipher.decrypt(envelope)).resolves.toBe('short secret');
});

describe('v1 envelopes (written before v2)', () => {
  it('a stored v1 envelope made by the v1 code still decrypts, and has the same fingerprint as v2', async () => {
    const cipher = createCipher({ currentKey: V1_VECTOR.key });
    expect(inspectEnvelope(V1_VECTOR.envelope)).toEqual({
      version: 1,
      keyFingerprint: V1_VECTOR.fingerprint,
    });
    await expect(cipher.decrypt(V1_VECTOR.envelope)).resolves.toBe(V1_VECTOR.plaintext);
    expect(await cipher.currentKeyFingerprint()).toBe(V1_VECTOR.fingerprint);
    expect(inspectEnvelope(await cipher.encrypt('x'))).toEqual({
      version: 2,
      keyFingerprint: V1_VECTOR.fingerprint,
    });
    await expect(decryptData(V1_VECTOR.envelope, V1_VECTOR.key)).resolves.toBe(V1_VECTOR.plaintext);
    // also as a previous key
    const rotating = createCipher({ currentKey: KEY, previousKeys: [V1_VECTOR.key] });
    await expect(rotating.decrypt(V1_VECTOR.envelope)).resolves.toBe(V1_VECTOR.plaintext);
  });

  it('a v1 envelope under an unknown key is KEY_NOT_FOUND, one under the right key but modified AUTHENTICATION_FAILED', async () => {
    const err = await decryptionError(createCipher({ currentKey: KEY }).decrypt(V1_VECTOR.envelope));
    expect(err.code).toBe('KEY_NOT_FOUND');
    expect(err.keyFingerprint).toBe(V1_VECTOR.fingerprint);
    expect(err.message).not.toContain(V1_VECTOR.key);
    const tampered = flipByte(V1_VECTOR.envelope, (n) => n - 20);
    const err2 = await decryptionError(createCipher({ currentKey: V1_VECTOR.key }).decrypt(tampered));
    expect(err2.code).toBe('AUTHENTICATION_FAILED');
  });

  it('a v1 value under the current key needs re-encryption, and re-encrypting makes v2 with the same plaintext', async () => {
    const cipher = createCipher({ currentKey: V1_VECTOR.key });
    expect(await cipher.needsReencryption(V1_VECTOR.envelope)).toBe(true);
    const fresh = await cipher.reencrypt(V1_VECTOR.envelope);
    expect(inspectEnvelope(fresh)).toEqual({ version: 2, keyFingerprint: V1_VECTOR.fingerprint });
    expect(fresh.startsWith(currentEnvelopePrefix(V1_VECTOR.fingerprint))).toBe(true);
    await expect(cipher.decrypt(fresh)).resolves.toBe(V1_VECTOR.plaintext);
    await expect(createCipher({ currentKey: V1_VECTOR.key }).decrypt(fresh)).resolves.toBe(
      V1_VECTOR.plaintext,
    );
    expect(await cipher.needsReencryption(fresh)).toBe(false);
    expect(await cipher.reencrypt(fresh)).toBe(fresh);

    // The same for v1 values the legacy path writes now, and under a previous key.
    const legacy = createCipher({ currentKey: KEY, writeVersion: 1 });
    const v1 = await legacy.encrypt(PEM);
    expect(inspectEnvelope(v1).version).toBe(1);
    await expect(createCipher({ currentKey: KEY }).decrypt(v1)).resolves.toBe(PEM);
    expect(await legacy.needsReencryption(v1)).toBe(true);
    const migrated = await legacy.reencrypt(v1); // reencrypt writes v2 whatever encrypt writes
    expect(inspectEnvelope(migrated).version).toBe(2);
    await expect(legacy.decrypt(migrated)).resolves.toBe(PEM);
    const rotating = createCipher({ currentKey: OTHER_KEY, previousKeys: [KEY] });
    const rotated = await rotating.reencrypt(v1);
    expect(inspectEnvelope(rotated)).toEqual({
      version: 2,
      keyFingerprint: await rotating.currentKeyFingerprint(),
    });
    await expect(createCipher({ currentKey: OTHER_KEY }).decrypt(rotated)).resolves.toBe(PEM);
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
