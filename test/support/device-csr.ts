/**
 * What a device (or an installer's app) does in certificate mode device-csr: makes its own key and
 * sends a CSR. The key stays in this process, as it would stay on the device; tests keep its
 * public key to check the certificate AWS issues is for it.
 */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

export type DeviceKeyKind = 'ec-p256' | 'ec-p384' | 'ec-p521' | 'rsa-1024' | 'rsa-2048';

const KEYS: Record<
  DeviceKeyKind,
  { generate: webcrypto.RsaHashedKeyGenParams | webcrypto.EcKeyGenParams; sign: string }
> = {
  'ec-p256': { generate: { name: 'ECDSA', namedCurve: 'P-256' }, sign: 'ECDSA' },
  'ec-p384': { generate: { name: 'ECDSA', namedCurve: 'P-384' }, sign: 'ECDSA' },
  'ec-p521': { generate: { name: 'ECDSA', namedCurve: 'P-521' }, sign: 'ECDSA' },
  'rsa-1024': { generate: rsa(1024), sign: 'RSASSA-PKCS1-v1_5' },
  'rsa-2048': { generate: rsa(2048), sign: 'RSASSA-PKCS1-v1_5' },
};

function rsa(modulusLength: number): webcrypto.RsaHashedKeyGenParams {
  return {
    name: 'RSASSA-PKCS1-v1_5',
    modulusLength,
    publicExponent: new Uint8Array([1, 0, 1]),
    hash: 'SHA-256',
  };
}

export interface DeviceCsr {
  csrPem: string;
  /** The device key's public key, DER SubjectPublicKeyInfo in base64 (publicKeyFingerprintOf*). */
  publicKey: string;
}

/** A CSR for a new key of `key` (default EC P-256), signed with `hash`, optionally with its signature broken. */
export async function deviceCsr(
  subject: string,
  options: { key?: DeviceKeyKind; hash?: 'SHA-1' | 'SHA-256' | 'SHA-384'; badSignature?: boolean } = {},
): Promise<DeviceCsr> {
  const kind = KEYS[options.key ?? 'ec-p256'];
  type Create = Parameters<typeof x509.Pkcs10CertificateRequestGenerator.create>;
  const keys = (await webcrypto.subtle.generateKey(kind.generate, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create(
    {
      name: subject,
      keys: keys as unknown as Create[0]['keys'],
      signingAlgorithm: { name: kind.sign, hash: options.hash ?? 'SHA-256' },
    },
    webcrypto as unknown as Create[1],
  );
  const publicKey = Buffer.from(await webcrypto.subtle.exportKey('spki', keys.publicKey)).toString('base64');
  if (!options.badSignature) return { csrPem: csr.toString('pem'), publicKey };
  // The signature is the DER's last bytes: one bit flipped there, everything else intact.
  const der = Buffer.from(csr.rawData);
  der[der.length - 3] = (der[der.length - 3] as number) ^ 0x01;
  return { csrPem: new x509.Pkcs10CertificateRequest(der).toString('pem'), publicKey };
}
