/**
 * Which certificates in AWS are ours, and what proves it. Only `record` and `stored-key` prove a
 * certificate ours enough to remove it; `subject` and `attachment` are our naming only, which
 * another deployment in the same account could share.
 */
import { createHash, X509Certificate } from 'node:crypto';
import type { KeyVault } from '../activities/deps.js';
import { publicKeyFingerprintOfCertificate, publicKeyFingerprintOfKey } from '../iot/device-keys.js';
import { type AwsCertificate, type IotReader, LOOKUP_CONCURRENCY, mapLimit } from './aws.js';
import { plantIdOfThing } from './names.js';
import { isLive, type KeyRow, type Snapshot } from './snapshot.js';

/** How a certificate in AWS was tied to a plant. */
export interface Attribution {
  certificate: AwsCertificate;
  plantId: string;
  /** `record`: its id is in our certificates table; `stored-key`: its public key is one of ours. */
  proof: 'record' | 'stored-key' | 'attachment' | 'subject';
  /** The certificate rows that prove it ours (none for `subject` and `attachment`). */
  rows: KeyRow[];
}

export function isProven(a: Attribution): boolean {
  return a.proof === 'record' || a.proof === 'stored-key';
}

/** Attributions by certificate id; a certificate not ours by any naming has none. */
export async function attributeCertificates(
  snapshot: Snapshot,
  aws: IotReader,
  vault: KeyVault,
): Promise<Map<string, Attribution>> {
  const rowsByCertificateId = groupBy(
    snapshot.keyRows.filter((row) => row.certificateId),
    (row) => row.certificateId as string,
  );
  const attribution = new Map<string, Attribution>();
  for (const certificate of snapshot.certificates) {
    const rows = rowsByCertificateId.get(certificate.certificateId);
    const plantId = rows?.[0]?.plantId;
    if (rows && plantId)
      attribution.set(certificate.certificateId, { certificate, plantId, proof: 'record', rows });
  }
  const unrecorded = snapshot.certificates.filter((c) => !rowsByCertificateId.has(c.certificateId));
  const ourThingsOfCertificate = thingsByPrincipal(snapshot);
  const fingerprintOf = cachedFingerprints(vault);
  await mapLimit(unrecorded, LOOKUP_CONCURRENCY, async (certificate) => {
    const pem = await aws.certificatePem(certificate.certificateId);
    const bySubject = pem ? plantIdOfCertificateSubject(pem) : null;
    const attachedThing = ourThingsOfCertificate.get(certificate.certificateArn)?.[0];
    const byAttachment = attachedThing ? plantIdOfThing(attachedThing) : null;
    const plantId = bySubject ?? byAttachment;
    if (!plantId) return; // not ours by any naming: someone else's certificate
    const rows = pem ? await rowsOfStoredKey(pem, snapshot.keyRows, plantId, fingerprintOf) : [];
    attribution.set(
      certificate.certificateId,
      rows.length > 0
        ? { certificate, plantId, proof: 'stored-key', rows }
        : { certificate, plantId, proof: bySubject ? 'subject' : 'attachment', rows: [] },
    );
  });
  return attribution;
}

/** The plant's live key rows this certificate was issued for. */
async function rowsOfStoredKey(
  pem: string,
  keyRows: readonly KeyRow[],
  plantId: string,
  fingerprintOf: (row: KeyRow) => Promise<string | null>,
): Promise<KeyRow[]> {
  const fingerprint = publicKeyFingerprintOfCertificate(pem);
  const subject = subjectOf(pem);
  const matching: KeyRow[] = [];
  for (const row of keyRows.filter((r) => r.plantId === plantId && isLive(r))) {
    // Real AWS signs our public key; moto issues its own key but keeps our CSR subject, whose
    // OU names the request the key was stored under.
    if (
      subject.includes(`OU=${requestMarker(row.requestId)}`) ||
      (await fingerprintOf(row)) === fingerprint
    ) {
      matching.push(row);
    }
  }
  return matching;
}

/** Public-key fingerprints of stored keys, each key decrypted at most once per report. */
function cachedFingerprints(vault: KeyVault): (row: KeyRow) => Promise<string | null> {
  const fingerprints = new Map<string, string | null>();
  return async (row) => {
    if (!row.encryptedPrivateKey) return null;
    if (!fingerprints.has(row.requestId)) {
      try {
        fingerprints.set(
          row.requestId,
          publicKeyFingerprintOfKey(await vault.decrypt(row.encryptedPrivateKey)),
        );
      } catch {
        fingerprints.set(row.requestId, null); // sealed with a key we no longer hold
      }
    }
    return fingerprints.get(row.requestId) ?? null;
  };
}

/** Our things each certificate ARN is attached to. */
function thingsByPrincipal(snapshot: Snapshot): Map<string, string[]> {
  const things = new Map<string, string[]>();
  for (const [thingName, principals] of snapshot.principalsOfThing) {
    for (const arn of principals) things.set(arn, [...(things.get(arn) ?? []), thingName]);
  }
  return things;
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) groups.set(key(item), [...(groups.get(key(item)) ?? []), item]);
  return groups;
}

function subjectOf(pem: string): string[] {
  try {
    return new X509Certificate(pem).subject.split('\n').map((line) => line.trim());
  } catch {
    return [];
  }
}

function plantIdOfCertificateSubject(pem: string): string | null {
  const cn = subjectOf(pem).find((line) => line.startsWith('CN='));
  return cn ? plantIdOfThing(cn.slice(3)) : null;
}

/** The OU that createCertificate puts in a CSR (src/activities/certificates.ts, requestMarker). */
function requestMarker(requestId: string): string {
  return createHash('sha256').update(requestId).digest('hex').slice(0, 32);
}
