// @peculiar/x509 resolves its ASN.1 serialisers through tsyringe, which needs this polyfill first.
import 'reflect-metadata';
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  webcrypto,
  X509Certificate,
} from 'node:crypto';
import * as x509 from '@peculiar/x509';

/**
 * Device key pairs and certificate signing requests. The private key is generated here, on our
 * side, and only its CSR goes to AWS (CreateCertificateFromCsr): AWS never sees the key.
 * ECDSA P-256 is accepted by AWS IoT, small for constrained devices and fast to generate.
 */
const EC_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;
type CreateParams = Parameters<typeof x509.Pkcs10CertificateRequestGenerator.create>[0];

export interface DeviceKey {
  privateKeyPem: string;
}

export function generateDeviceKey(): DeviceKey {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return { privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

/** A CSR for the key with the given subject (a distinguished name such as `CN=thing, OU=marker`). */
export async function csrFor(privateKeyPem: string, subject: string): Promise<string> {
  const privateKeyObject = createPrivateKey(privateKeyPem);
  const pkcs8 = privateKeyObject.export({ type: 'pkcs8', format: 'der' });
  const spki = createPublicKey(privateKeyObject).export({ type: 'spki', format: 'der' });
  const subtle = webcrypto.subtle;
  const keys = {
    privateKey: await subtle.importKey('pkcs8', pkcs8, EC_ALGORITHM, false, ['sign']),
    publicKey: await subtle.importKey('spki', spki, EC_ALGORITHM, true, ['verify']),
  } as unknown as CreateParams['keys'];
  const csr = await x509.Pkcs10CertificateRequestGenerator.create(
    { name: subject, keys, signingAlgorithm: SIGNING_ALGORITHM },
    webcrypto as unknown as Parameters<typeof x509.Pkcs10CertificateRequestGenerator.create>[1],
  );
  return csr.toString('pem');
}

/** DER of the public key, to recognise a certificate AWS issued for our key. */
export function publicKeyFingerprintOfKey(privateKeyPem: string): string {
  return createPublicKey(privateKeyPem).export({ type: 'spki', format: 'der' }).toString('base64');
}

/** SHA-256 (hex) of a public key as the fingerprints above give it: what certificates rows keep. */
export function publicKeySha256(publicKeyFingerprint: string): string {
  return createHash('sha256').update(Buffer.from(publicKeyFingerprint, 'base64')).digest('hex');
}

export function publicKeyFingerprintOfCertificate(certificatePem: string): string {
  return new X509Certificate(certificatePem).publicKey
    .export({ type: 'spki', format: 'der' })
    .toString('base64');
}
