/**
 * `npm run bench:encryption`: CPU cost per stored secret of the v1 envelope (PBKDF2 per value)
 * against v2 (one PBKDF2 per key per process, HKDF per value), in one process, no services.
 *
 * For each version a fresh cipher (so v2's one-time KEK and fingerprint derivations are counted,
 * spread over the N values) encrypts N PEM-sized values and decrypts them again ("encrypt +
 * decrypt", one cipher: what a worker pays), then a second fresh cipher decrypts the same N
 * values ("cold decrypt": a separate process such as export-credentials or reencrypt-keys). For v2
 * a last line repeats encrypt + decrypt with the first cipher, its key already derived (steady
 * state: what each further value costs a running worker).
 * CPU is process.cpuUsage() (user + system, all threads, so the libuv pool's PBKDF2 is included).
 * Values are processed one at a time. Environment: BENCH_ENCRYPTION_VALUES (default 200).
 */
import { randomBytes } from 'node:crypto';
import { createCipher, generateEncryptionKey } from '../src/crypto/encryption.js';

const N = Number(process.env.BENCH_ENCRYPTION_VALUES ?? 200);
if (!Number.isInteger(N) || N < 1) throw new Error('BENCH_ENCRYPTION_VALUES must be a positive integer');

// An RSA-2048 private key PEM is ~1.7 kB.
const values = Array.from(
  { length: N },
  () =>
    `-----BEGIN PRIVATE KEY-----\n${randomBytes(1216)
      .toString('base64')
      .match(/.{1,64}/g)
      ?.join('\n')}\n-----END PRIVATE KEY-----\n`,
);

interface Measure {
  cpuMs: number;
  wallMs: number;
}

async function measure(fn: () => Promise<void>): Promise<Measure> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const c = process.cpuUsage(c0);
  return { cpuMs: (c.user + c.system) / 1000, wallMs: performance.now() - t0 };
}

type Cipher = ReturnType<typeof createCipher>;

async function encryptDecrypt(cipher: Cipher, version: number, envelopes: string[]): Promise<void> {
  const start = envelopes.length;
  for (const v of values) envelopes.push(await cipher.encrypt(v));
  for (const [i, e] of envelopes.slice(start).entries()) {
    if ((await cipher.decrypt(e)) !== values[i]) throw new Error(`v${version}: round trip mismatch`);
  }
}

async function run(
  version: 1 | 2,
): Promise<{ roundTrip: Measure; coldDecrypt: Measure; warmRoundTrip?: Measure }> {
  const key = generateEncryptionKey();
  const envelopes: string[] = [];
  const cipher = createCipher({ currentKey: key, writeVersion: version });
  const roundTrip = await measure(() => encryptDecrypt(cipher, version, envelopes));
  if (!envelopes.every((e) => e.startsWith(`v${version}:`))) throw new Error(`not v${version} envelopes`);
  const coldDecrypt = await measure(async () => {
    const cipher = createCipher({ currentKey: key });
    for (const [i, e] of envelopes.entries()) {
      if ((await cipher.decrypt(e)) !== values[i]) throw new Error(`v${version}: cold decrypt mismatch`);
    }
  });
  if (version === 1) return { roundTrip, coldDecrypt };
  const warmRoundTrip = await measure(() => encryptDecrypt(cipher, version, []));
  return { roundTrip, coldDecrypt, warmRoundTrip };
}

async function main() {
  // Warm-up: module loading, JIT, the pool's first thread.
  const warm = createCipher({ currentKey: generateEncryptionKey() });
  await warm.decrypt(await warm.encrypt('warm-up'));

  const v1 = await run(1);
  const v2 = await run(2);
  const per = (m: Measure) => m.cpuMs / N;
  const line = (name: string, m: Measure) =>
    `  ${name.padEnd(26)} CPU ${per(m).toFixed(3).padStart(8)} ms/value   (total CPU ${m.cpuMs.toFixed(0)} ms, wall ${m.wallMs.toFixed(0)} ms)`;
  console.log(`encryption benchmark: ${N} values of ${values[0]?.length} characters, node ${process.version}`);
  console.log('v1 (PBKDF2 per value):');
  console.log(line('encrypt + decrypt', v1.roundTrip));
  console.log(line('cold decrypt', v1.coldDecrypt));
  console.log('v2 (PBKDF2 once per key, HKDF per value):');
  console.log(line('encrypt + decrypt', v2.roundTrip));
  console.log(line('cold decrypt', v2.coldDecrypt));
  if (v2.warmRoundTrip) console.log(line('encrypt + decrypt, warm', v2.warmRoundTrip));
  console.log(
    `ratio v1/v2 CPU per value: encrypt + decrypt ${(per(v1.roundTrip) / per(v2.roundTrip)).toFixed(1)}x, ` +
      `cold decrypt ${(per(v1.coldDecrypt) / per(v2.coldDecrypt)).toFixed(1)}x`,
  );
}

await main();
