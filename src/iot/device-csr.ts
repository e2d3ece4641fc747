/**
 * Checks a certificate signing request a device (or the installer's app) made with its own key,
 * for certificate mode device-csr: the key never reaches us, only this CSR. Checked by the service
 * before the CSR reaches the workflow (a clear 400) and again by the worker before it goes to AWS
 * (a CSR sent to the workflow some other way).
 */
// @peculiar/x509 resolves its ASN.1 serialisers through tsyringe, which needs this polyfill first.
import 'reflect-metadata';
import { createPublicKey, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

/** Characters of PEM accepted: a CSR with an RSA 4096 key and a long subject is under 4 KB. */
export const MAX_CSR_PEM_LENGTH = 16_384;

/** A CSR refused; the message says what is wrong with it and what would be accepted. */
export class CsrRejectedError extends Error {
  override readonly name = 'CsrRejectedError';
}

export interface CheckedCsr {
  /** The CSR re-encoded as one canonical PEM block: what goes to AWS. */
  pem: string;
  /** The key's DER SubjectPublicKeyInfo in base64, as publicKeyFingerprintOfCertificate gives it. */
  publicKey: string;
  /** `RSA 2048`, `EC P-256`, ... */
  key: string;
}

const PEM_BLOCK = /-----BEGIN ((?:NEW )?CERTIFICATE REQUEST)-----([A-Za-z0-9+/=\s]*)-----END \1-----/g;
const ANY_PEM_BEGIN = /-----BEGIN /g;
const MIN_RSA_BITS = 2048;
/** AWS IoT accepts longer ones; verifying a 16384-bit signature for anyone who has the token is not worth it. */
const MAX_RSA_BITS = 4096;
const CURVES: Record<string, string> = { prime256v1: 'P-256', secp384r1: 'P-384' };
const OTHER_CURVES: Record<string, string> = { secp521r1: 'P-521', secp256k1: 'secp256k1' };
/** The signature algorithms AWS IoT accepts in a CSR, by the name @peculiar/x509 gives them. */
const SIGNATURES = new Set(['RSASSA-PKCS1-v1_5', 'ECDSA']);
const HASHES = new Set(['SHA-256', 'SHA-384', 'SHA-512']);

function reject(message: string): never {
  throw new CsrRejectedError(message);
}

/** The DER of the one PEM certificate request in `text`. */
function derOf(text: string): Buffer {
  if (text.length > MAX_CSR_PEM_LENGTH)
    reject(`The CSR is longer than ${MAX_CSR_PEM_LENGTH} characters; a CSR is about 1 to 2 KB`);
  const blocks = [...text.matchAll(PEM_BLOCK)];
  const begins = text.match(ANY_PEM_BEGIN)?.length ?? 0;
  if (blocks.length === 0)
    reject(
      'The body is not a PEM certificate request: expected one "-----BEGIN CERTIFICATE REQUEST-----" block (PKCS#10)',
    );
  if (blocks.length > 1 || begins > 1)
    reject('The body holds more than one PEM block; send exactly one certificate request');
  const outside = text.replace(PEM_BLOCK, '').trim();
  if (outside) reject('The body holds text besides the PEM certificate request; send the request alone');
  return Buffer.from((blocks[0]?.[2] ?? '').replace(/\s+/g, ''), 'base64');
}

function parse(der: Buffer): x509.Pkcs10CertificateRequest {
  try {
    return new x509.Pkcs10CertificateRequest(der);
  } catch {
    return reject('The PEM block is not a valid PKCS#10 certificate request (its DER does not parse)');
  }
}

/** The key type and size, refused unless AWS IoT accepts it and it is strong enough. */
function keyOf(csr: x509.Pkcs10CertificateRequest): { key: string; publicKey: string } {
  let details: { type: string | undefined; bits?: number | undefined; curve?: string | undefined };
  let spki: Buffer;
  try {
    const key = createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: 'der', type: 'spki' });
    spki = key.export({ type: 'spki', format: 'der' });
    details = {
      type: key.asymmetricKeyType,
      bits: key.asymmetricKeyDetails?.modulusLength,
      curve: key.asymmetricKeyDetails?.namedCurve,
    };
  } catch {
    return reject("The CSR's public key cannot be read");
  }
  const publicKey = spki.toString('base64');
  const accepted = `an RSA key of ${MIN_RSA_BITS} to ${MAX_RSA_BITS} bits or an EC key on curve P-256 or P-384`;
  if (details.type === 'rsa') {
    const bits = details.bits ?? 0;
    if (bits < MIN_RSA_BITS)
      reject(`The CSR holds an RSA key of ${bits} bits; use at least ${MIN_RSA_BITS} bits (or EC P-256)`);
    if (bits > MAX_RSA_BITS)
      reject(`The CSR holds an RSA key of ${bits} bits; this service accepts ${accepted}`);
    return { key: `RSA ${bits}`, publicKey };
  }
  if (details.type === 'ec') {
    const curve = CURVES[details.curve ?? ''];
    if (!curve) {
      const name = OTHER_CURVES[details.curve ?? ''] ?? details.curve ?? 'unknown';
      reject(`The CSR holds an EC key on curve ${name}; use curve P-256 or P-384`);
    }
    return { key: `EC ${curve}`, publicKey };
  }
  return reject(`The CSR holds a key of type ${details.type ?? 'unknown'}; use ${accepted}`);
}

/** The subject must name this plant's thing (CN), so a CSR made for one plant cannot serve another. */
function checkSubject(csr: x509.Pkcs10CertificateRequest, thingName: string): void {
  const names = csr.subjectName.getField('CN');
  if (names.length !== 1 || names[0] !== thingName) {
    reject(
      `The CSR's subject common name (CN) must be ${thingName}, the plant's thing; it is ${
        names.length ? names.map((n) => JSON.stringify(n)).join(', ') : 'missing'
      } (subject "${csr.subject}")`,
    );
  }
  // The worker puts a 32-hex-digit OU in the CSRs it makes itself (requestMarker in
  // src/activities/lost-certificate.ts) and, when AWS's answer is lost, adopts the certificate
  // carrying it. A device choosing such an OU could have its certificate adopted for another
  // plant's request: the form is reserved.
  if (csr.subjectName.getField('OU').some((ou) => /^[0-9a-f]{32}$/i.test(ou)))
    reject(
      "The CSR's subject has an OU of 32 hexadecimal digits, a form reserved for solar-iot's own requests; remove or change that OU",
    );
}

async function checkSignature(csr: x509.Pkcs10CertificateRequest): Promise<void> {
  const { name, hash } = csr.signatureAlgorithm as { name: string; hash?: { name?: string } };
  const hashName = hash?.name ?? 'unknown';
  if (!SIGNATURES.has(name) || !HASHES.has(hashName)) {
    reject(
      `The CSR is signed with ${name} and ${hashName}; sign it with SHA-256, SHA-384 or SHA-512 (RSA PKCS#1 v1.5 or ECDSA)`,
    );
  }
  let valid = false;
  try {
    valid = await csr.verify(webcrypto as unknown as Parameters<x509.Pkcs10CertificateRequest['verify']>[0]);
  } catch {
    valid = false;
  }
  if (!valid)
    reject(
      "The CSR's signature does not verify against its own public key: it was altered, or not signed with that key",
    );
}

/** The public key (base64 SPKI) of a CSR, unchecked; null when it does not parse. */
export function publicKeyOfCsr(text: string): string | null {
  try {
    return keyOf(parse(derOf(text))).publicKey;
  } catch {
    return null;
  }
}

/**
 * Parses and checks a CSR for the plant whose thing is `thingName`: one PEM block of at most
 * MAX_CSR_PEM_LENGTH characters, an RSA (2048 to 4096 bits) or EC (P-256, P-384) key, a subject
 * whose CN is the thing name, a SHA-2 signature that verifies. Throws CsrRejectedError saying why.
 */
export async function checkDeviceCsr(text: string, thingName: string): Promise<CheckedCsr> {
  if (typeof text !== 'string') reject('The CSR must be PEM text');
  const csr = parse(derOf(text));
  const { key, publicKey } = keyOf(csr);
  checkSubject(csr, thingName);
  await checkSignature(csr);
  return { pem: csr.toString('pem').replace(/\r\n/g, '\n').trimEnd().concat('\n'), publicKey, key };
}
