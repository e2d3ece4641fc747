/**
 * tools/stack/moto_server_patched.py, the file startMoto runs moto through: its IoT patch against the
 * moto of the test run (CreateCertificateFromCsr certifies the CSR's own key, like AWS IoT, where
 * plain moto certifies a new key of its own, signed by the CA whose certificate it publishes in
 * MOTO_IOT_CA_FILE), and both patches applying to the installed moto.
 * The SQS patch's effect (no message lost while another is deleted) is a race, proven by
 * test/ingest/simulated-load.test.ts.
 */
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  CreateCertificateFromCsrCommand,
  CreateKeysAndCertificateCommand,
  DescribeCertificateCommand,
  IoTClient,
} from '@aws-sdk/client-iot';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import {
  csrFor,
  generateDeviceKey,
  publicKeyFingerprintOfCertificate,
  publicKeyFingerprintOfKey,
} from '../../src/iot/device-keys.js';
import { motoServerPath } from '../../tools/stack/tools.js';
import { awsClientConfig, resetMoto } from '../support/moto.js';

const PATCH = fileURLToPath(new URL('../../tools/stack/moto_server_patched.py', import.meta.url));
const MOTO_ISSUER = ['C=US', 'O=Moto', 'OU=Server CA 1B', 'CN=Moto'].join('\n');

describe('moto patches (tools/stack/moto_server_patched.py)', () => {
  const iot = new IoTClient(awsClientConfig());
  beforeEach(resetMoto);
  afterAll(() => iot.destroy());

  async function fromCsr(csr: string, setAsActive?: boolean) {
    const out = await iot.send(
      new CreateCertificateFromCsrCommand({ certificateSigningRequest: csr, setAsActive }),
    );
    if (!out.certificatePem || !out.certificateId)
      throw new Error('CreateCertificateFromCsr: no certificate');
    return { ...out, certificatePem: out.certificatePem, certificateId: out.certificateId };
  }

  it("CreateCertificateFromCsr certifies the CSR's public key and subject, issued by moto's CA", async () => {
    const key = generateDeviceKey();
    const csr = await csrFor(key.privateKeyPem, 'CN=solar-plant-moto-patch, OU=solar-iot');
    const out = await fromCsr(csr, true);

    expect(publicKeyFingerprintOfCertificate(out.certificatePem)).toBe(
      publicKeyFingerprintOfKey(key.privateKeyPem),
    );
    const cert = new X509Certificate(out.certificatePem);
    expect(cert.subject.split('\n')).toContain('CN=solar-plant-moto-patch');
    expect(cert.subject.split('\n')).toContain('OU=solar-iot');
    expect(cert.issuer).toBe(MOTO_ISSUER);
    // Signed by the CA key, not by the certificate's own key (plain moto self-signs).
    expect(cert.verify(cert.publicKey)).toBe(false);
    expect(out.certificateArn).toMatch(new RegExp(`:cert/${out.certificateId}$`));
  });

  it('issues a new certificate, with its own id, for each request (same CSR or not), all under one CA', async () => {
    const key = generateDeviceKey();
    const csr = await csrFor(key.privateKeyPem, 'CN=solar-plant-moto-patch-twice');
    const other = generateDeviceKey();
    const certs = [
      await fromCsr(csr, true),
      await fromCsr(csr, true),
      await fromCsr(await csrFor(other.privateKeyPem, 'CN=solar-plant-moto-patch-other'), true),
    ];
    expect(new Set(certs.map((c) => c.certificateId)).size).toBe(3);
    expect(certs.map((c) => publicKeyFingerprintOfCertificate(c.certificatePem))).toEqual([
      publicKeyFingerprintOfKey(key.privateKeyPem),
      publicKeyFingerprintOfKey(key.privateKeyPem),
      publicKeyFingerprintOfKey(other.privateKeyPem),
    ]);
    expect(new Set(certs.map((c) => new X509Certificate(c.certificatePem).issuer))).toEqual(
      new Set([MOTO_ISSUER]),
    );
  });

  it('signs them as the CA whose certificate moto publishes (MOTO_IOT_CA_FILE): the chain verifies', async () => {
    const caFile = process.env.MOTO_IOT_CA_FILE;
    if (!caFile)
      throw new Error('MOTO_IOT_CA_FILE is not set (test/support/global-setup.ts sets it for its moto)');
    const ca = new X509Certificate(await readFile(caFile, 'utf8'));
    expect(ca.subject).toBe(MOTO_ISSUER);
    expect(ca.issuer).toBe(MOTO_ISSUER);
    expect(ca.ca).toBe(true);
    expect(ca.verify(ca.publicKey)).toBe(true);

    const key = generateDeviceKey();
    const cert = new X509Certificate(
      (await fromCsr(await csrFor(key.privateKeyPem, 'CN=solar-plant-moto-patch-ca'), true)).certificatePem,
    );
    // checkIssued: issuer name, authority key identifier and the CA's keyUsage; verify: the signature.
    expect(cert.checkIssued(ca)).toBe(true);
    expect(cert.verify(ca.publicKey)).toBe(true);
    // A certificate of CreateKeysAndCertificate is not issued by it (moto's own self-signed chain).
    const other = await iot.send(new CreateKeysAndCertificateCommand({ setAsActive: true }));
    const otherCert = new X509Certificate(other.certificatePem ?? '');
    expect(otherCert.verify(ca.publicKey)).toBe(false);
  });

  // Not setAsActive: false, which moto 5.1.22 reads as the string "false" (its CreateCertificateFromCsr
  // handler takes _get_param, not _get_bool_param) and so activates: a moto quirk this file leaves alone.
  it('keeps moto’s status handling: ACTIVE with setAsActive, INACTIVE without it', async () => {
    const csr = await csrFor(generateDeviceKey().privateKeyPem, 'CN=solar-plant-moto-patch-status');
    const statusOf = async (certificateId: string) =>
      (await iot.send(new DescribeCertificateCommand({ certificateId }))).certificateDescription?.status;
    expect(await statusOf((await fromCsr(csr, true)).certificateId)).toBe('ACTIVE');
    expect(await statusOf((await fromCsr(csr)).certificateId)).toBe('INACTIVE');
  });

  it('leaves CreateKeysAndCertificate as it was: a certificate for the key pair it returns', async () => {
    const out = await iot.send(new CreateKeysAndCertificateCommand({ setAsActive: true }));
    if (!out.certificatePem || !out.keyPair?.PrivateKey) throw new Error('CreateKeysAndCertificate: no key');
    expect(publicKeyFingerprintOfCertificate(out.certificatePem)).toBe(
      publicKeyFingerprintOfKey(out.keyPair.PrivateKey),
    );
    expect(new X509Certificate(out.certificatePem).subject).toBe('CN=AWS IoT Certificate');
  });

  it('applies both patches to the installed moto (its guards accept this moto) and publishes its CA atomically', async () => {
    const python = join(dirname(motoServerPath()), 'python');
    // Its own file: the MOTO_IOT_CA_FILE this process inherited is the running moto's, not this one's.
    const dir = await mkdtemp(join(tmpdir(), 'solar-iot-moto-ca-'));
    try {
      const caFile = join(dir, 'moto-iot-ca.pem');
      const { stderr } = await promisify(execFile)(python, [PATCH, '--help'], {
        timeout: 60_000,
        env: { ...process.env, MOTO_IOT_CA_FILE: caFile },
      });
      expect(stderr).toContain('moto_server_patched: Queue.delete_message holds Queue._messages_lock');
      expect(stderr).toContain(
        "moto_server_patched: IoT CreateCertificateFromCsr certifies the CSR's public key",
      );
      expect(stderr).toContain(`moto_server_patched: IoT CA certificate written to ${caFile}`);
      expect(await readdir(dir)).toEqual(['moto-iot-ca.pem']);
      const ca = new X509Certificate(await readFile(caFile, 'utf8'));
      expect(ca.subject).toBe(MOTO_ISSUER);
      expect(ca.ca).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
