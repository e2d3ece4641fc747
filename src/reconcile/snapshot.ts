/**
 * The one read a drift report judges: PostgreSQL (plants, certificate rows) and AWS IoT (every
 * certificate; the things, policies and rules ours by naming; the principals of our things).
 * Later phases only look up single resources; they never list again, so every judgement is made
 * against the same picture.
 */
import { and, isNotNull, isNull, or } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { certificates, type IotStatus, plants } from '../db/schema.js';
import { SHARED_POLICY_NAME, SHARED_RULE_NAME } from '../iot/naming.js';
import { type AwsCertificate, type AwsThing, type IotReader, LOOKUP_CONCURRENCY, mapLimit } from './aws.js';
import { plantIdOfPolicy, plantIdOfRule, plantIdOfThing } from './names.js';

export interface PlantRow {
  id: string;
  iotStatus: IotStatus;
  thingName: string | null;
  certificateId: string | null;
  certificateArn: string | null;
  policyName: string | null;
  ruleName: string | null;
  updatedAt: Date;
}

export interface KeyRow {
  requestId: string;
  plantId: string;
  certificateId: string | null;
  encryptedPrivateKey: string | null;
  destroyedAt: Date | null;
}

export interface Snapshot {
  plants: ReadonlyMap<string, PlantRow>;
  /** Certificate rows that still hold a key or recorded a certificate id. */
  keyRows: readonly KeyRow[];
  /** Plants not judged, and why: an operation runs on them, or their record changed during the read. */
  inFlight: ReadonlyMap<string, string>;
  /** Plants we have a record of: a plant row or a certificate row. */
  knownPlants: ReadonlySet<string>;
  /** Every certificate in the account: whether one is ours is decided by attribution. */
  certificates: readonly AwsCertificate[];
  things: readonly AwsThing[];
  /** Per-plant policies; the shared policy is infrastructure, not among them. */
  policies: readonly string[];
  /** Per-plant rules; the shared rule is infrastructure, not among them. */
  rules: readonly string[];
  sharedPolicyPresent: boolean;
  sharedRulePresent: boolean;
  /** Certificate ARNs attached to each of our things. */
  principalsOfThing: ReadonlyMap<string, readonly string[]>;
}

const BUSY: readonly IotStatus[] = ['provisioning', 'awaiting-csr', 'deprovisioning'];

export async function readSnapshot(
  aws: IotReader,
  db: Db,
  progress: (phase: string) => void,
): Promise<Snapshot> {
  // PostgreSQL before and after AWS: a plant whose record changed in between is mid-operation.
  const plantsBefore = await readPlants(db);
  progress('listing AWS IoT');
  const [allThings, allCertificates, allPolicies, allRules] = await Promise.all([
    aws.things(),
    aws.certificates(),
    aws.policyNames(),
    aws.ruleNames(),
  ]);
  progress('reading PostgreSQL');
  const plantRows = await readPlants(db);
  const keyRows = await readKeyRows(db);
  const things = allThings.filter((t) => plantIdOfThing(t.thingName) !== null);
  progress('listing thing principals');
  const principalsOfThing = new Map<string, string[]>();
  await mapLimit(things, LOOKUP_CONCURRENCY, async (t) => {
    principalsOfThing.set(t.thingName, await aws.thingPrincipals(t.thingName));
  });
  return {
    plants: plantRows,
    keyRows,
    inFlight: plantsInFlight(plantsBefore, plantRows),
    knownPlants: new Set([...plantRows.keys(), ...keyRows.map((r) => r.plantId)]),
    certificates: allCertificates,
    things,
    policies: allPolicies.filter((p) => plantIdOfPolicy(p) !== null),
    rules: allRules.filter((r) => plantIdOfRule(r) !== null),
    sharedPolicyPresent: allPolicies.includes(SHARED_POLICY_NAME),
    sharedRulePresent: allRules.includes(SHARED_RULE_NAME),
    principalsOfThing,
  };
}

function plantsInFlight(
  before: ReadonlyMap<string, PlantRow>,
  after: ReadonlyMap<string, PlantRow>,
): Map<string, string> {
  const inFlight = new Map<string, string>();
  for (const [id, row] of after) {
    const earlier = before.get(id);
    if (BUSY.includes(row.iotStatus)) inFlight.set(id, `${row.iotStatus} (an operation is running)`);
    else if (
      !earlier ||
      earlier.iotStatus !== row.iotStatus ||
      earlier.updatedAt.getTime() !== row.updatedAt.getTime()
    ) {
      inFlight.set(id, 'its record changed during the check');
    }
  }
  for (const id of before.keys())
    if (!after.has(id)) inFlight.set(id, 'its record was deleted during the check');
  return inFlight;
}

async function readPlants(db: Db): Promise<Map<string, PlantRow>> {
  const rows = await db
    .select({
      id: plants.id,
      iotStatus: plants.iotStatus,
      thingName: plants.thingName,
      certificateId: plants.certificateId,
      certificateArn: plants.certificateArn,
      policyName: plants.policyName,
      ruleName: plants.ruleName,
      updatedAt: plants.updatedAt,
    })
    .from(plants);
  return new Map(rows.map((r) => [r.id, r]));
}

/** Rows that still hold a key, and rows that recorded a certificate id (proof by record). */
async function readKeyRows(db: Db): Promise<KeyRow[]> {
  return db
    .select({
      requestId: certificates.requestId,
      plantId: certificates.plantId,
      certificateId: certificates.certificateId,
      encryptedPrivateKey: certificates.encryptedPrivateKey,
      destroyedAt: certificates.destroyedAt,
    })
    .from(certificates)
    .where(
      or(
        isNotNull(certificates.certificateId),
        and(isNotNull(certificates.encryptedPrivateKey), isNull(certificates.destroyedAt)),
      ),
    );
}

/** A row whose key we still hold (encrypted). */
export function isLive(row: KeyRow): boolean {
  return row.encryptedPrivateKey !== null && row.destroyedAt === null;
}

export function statusOf(snapshot: Snapshot, plantId: string): IotStatus | 'unknown' {
  return snapshot.plants.get(plantId)?.iotStatus ?? 'unknown';
}

/** The plant's record when it is active; undefined for any other status or no record. */
export function activePlant(snapshot: Snapshot, plantId: string): PlantRow | undefined {
  const plant = snapshot.plants.get(plantId);
  return plant?.iotStatus === 'active' ? plant : undefined;
}
