/**
 * One key pair authenticates one plant. AWS IoT certifies a key as often as it is asked
 * (CreateCertificateFromCsr: "Reusing the same certificate signing request (CSR) results in a
 * distinct certificate"), so a device key sent in another plant's CSR would connect as both
 * plants: the service refuses it (409) and the worker again (a CSR can reach it past the service).
 */
import { and, eq, isNull, ne } from 'drizzle-orm';
import type { Db } from './client.js';
import { certificates } from './schema.js';

export interface KeyHolder {
  plantId: string;
  /** Null while that plant's certificate is being issued. */
  certificateId: string | null;
}

/** A plant other than `plantId` whose live certificate (or request for one) has this key. */
export async function otherPlantWithKey(
  db: Pick<Db, 'select'>,
  publicKeySha256: string,
  plantId: string,
): Promise<KeyHolder | undefined> {
  const [holder] = await db
    .select({ plantId: certificates.plantId, certificateId: certificates.certificateId })
    .from(certificates)
    .where(
      and(
        eq(certificates.publicKeySha256, publicKeySha256),
        ne(certificates.plantId, plantId),
        isNull(certificates.destroyedAt),
      ),
    )
    .limit(1);
  return holder;
}

export function keyInUseMessage(holder: KeyHolder, plantId: string): string {
  const whose = holder.certificateId
    ? `the key of plant ${holder.plantId}'s certificate ${holder.certificateId}`
    : `the key of the certificate plant ${holder.plantId} is being given`;
  return `The CSR's key is ${whose}: one key pair authenticates one plant. Make a new key on the device of plant ${plantId} and send its CSR`;
}
