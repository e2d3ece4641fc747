/**
 * The drift report: PostgreSQL (plants, certificates) against AWS IoT (things, certificates,
 * policies, topic rules under our naming), and the plan that removes the orphans proven ours.
 *
 * What counts as ours:
 * - by naming: `solar-plant-<plantId>` things, `solar-plant-<plantId>-policy` policies,
 *   `solar_plant_rule_<encoded plantId>` rules, certificates with subject `CN=solar-plant-<plantId>`
 *   or attached to one of our things;
 * - proven (and so removable): naming AND our records: a certificate whose id we stored or whose
 *   public key is one of our stored (encrypted) keys; a thing whose `plantId` attribute, a policy
 *   whose document, a rule whose SQL is exactly what we create for a plant we have a record of.
 * Anything else (another deployment in the same account, a hand-made resource) is reported at most,
 * never touched. The shared policy `solar-plants-policy` (POLICY_MODE=shared) is infrastructure,
 * like the shared rule: never an orphan, expected for the active plants whose record names it,
 * and detached from (never deleted with) an orphan certificate.
 */
import { createHash, X509Certificate } from 'node:crypto';
import type { IoTClient } from '@aws-sdk/client-iot';
import type { Client } from '@temporalio/client';
import { and, isNotNull, isNull, or } from 'drizzle-orm';
import type { KeyVault } from '../activities/deps.js';
import type { Db } from '../db/client.js';
import { certificates, type IotStatus, plants } from '../db/schema.js';
import { publicKeyFingerprintOfCertificate, publicKeyFingerprintOfKey } from '../iot/device-keys.js';
import {
  assertValidPlantId,
  PLANT_RULE_PREFIX,
  POLICY_NAME_SUFFIX,
  plantRuleNameFor,
  policyNameFor,
  SHARED_POLICY_NAME,
  SHARED_RULE_NAME,
  THING_NAME_PREFIX,
  thingNameFor,
} from '../iot/naming.js';
import { policyDocumentFor, samePolicyDocument } from '../iot/policy-document.js';
import { plantRuleSql } from '../iot/topic-rule.js';
import { type AwsCertificate, IotReader, mapLimit } from './aws.js';
import { runningOperation } from './operations.js';
import type {
  DriftReport,
  MissingResource,
  Orphan,
  RemovalGroup,
  RemovalStep,
  UnattachedCertificate,
} from './types.js';

/** Lists in a report stop here (counts stay exact); keeps workflow payloads far below 2 MB. */
export const MAX_LISTED = 500;
/** Plants whose orphans one run removes; the next run takes the rest. */
export const MAX_REMOVAL_GROUPS = 200;
/** Concurrent per-resource AWS calls (the List* calls have low request-rate quotas). */
const LOOKUP_CONCURRENCY = 4;

export interface ReportDeps {
  iot: IoTClient;
  db: Db;
  vault: KeyVault;
  /** When given, plants with drift are checked for a running operation (and then left alone). */
  temporal?: Client | undefined;
}

function validPlantId(candidate: string): string | null {
  try {
    assertValidPlantId(candidate);
    return candidate;
  } catch {
    return null;
  }
}

export function plantIdOfThing(thingName: string): string | null {
  return thingName.startsWith(THING_NAME_PREFIX)
    ? validPlantId(thingName.slice(THING_NAME_PREFIX.length))
    : null;
}

export function plantIdOfPolicy(policyName: string): string | null {
  if (!policyName.startsWith(THING_NAME_PREFIX) || !policyName.endsWith(POLICY_NAME_SUFFIX)) return null;
  return validPlantId(policyName.slice(THING_NAME_PREFIX.length, -POLICY_NAME_SUFFIX.length));
}

/** Inverse of plantRuleNameFor (`_1` is `_`, `_0` is `-`); null for anything it cannot produce. */
export function plantIdOfRule(ruleName: string): string | null {
  if (!ruleName.startsWith(PLANT_RULE_PREFIX)) return null;
  const encoded = ruleName.slice(PLANT_RULE_PREFIX.length);
  const decoded = encoded.replace(/_([01])/g, (_, d: string) => (d === '1' ? '_' : '-'));
  const plantId = validPlantId(decoded);
  return plantId && plantRuleNameFor(plantId) === ruleName ? plantId : null;
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

interface PlantRow {
  id: string;
  iotStatus: IotStatus;
  thingName: string | null;
  certificateId: string | null;
  certificateArn: string | null;
  policyName: string | null;
  ruleName: string | null;
  updatedAt: Date;
}

interface KeyRow {
  requestId: string;
  plantId: string;
  certificateId: string | null;
  encryptedPrivateKey: string | null;
  destroyedAt: Date | null;
}

const BUSY: readonly IotStatus[] = ['provisioning', 'deprovisioning'];

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

function isLive(row: KeyRow): boolean {
  return row.encryptedPrivateKey !== null && row.destroyedAt === null;
}

/** How a certificate in AWS was tied to a plant. */
interface Attribution {
  plantId: string;
  /** `record`: its id is in our certificates table; `stored-key`: its public key is one of ours. */
  proof: 'record' | 'stored-key' | 'attachment' | 'subject';
  rows: KeyRow[];
}

export interface ReportWithPlan {
  report: DriftReport;
  plan: RemovalGroup[];
}

/**
 * Builds the drift report and the removal plan. `progress` is called between phases (the
 * activity heartbeats with it).
 */
export async function buildDriftReport(
  deps: ReportDeps,
  progress: (phase: string) => void = () => {},
): Promise<ReportWithPlan> {
  const aws = new IotReader(deps.iot);
  const { db, vault } = deps;

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

  const inFlight = new Map<string, string>();
  for (const [id, row] of plantRows) {
    const before = plantsBefore.get(id);
    if (BUSY.includes(row.iotStatus)) inFlight.set(id, `${row.iotStatus} (an operation is running)`);
    else if (
      !before ||
      before.iotStatus !== row.iotStatus ||
      before.updatedAt.getTime() !== row.updatedAt.getTime()
    ) {
      inFlight.set(id, 'its record changed during the check');
    }
  }
  for (const id of plantsBefore.keys())
    if (!plantRows.has(id)) inFlight.set(id, 'its record was deleted during the check');
  const knownPlants = new Set([...plantRows.keys(), ...keyRows.map((r) => r.plantId)]);
  const statusOf = (plantId: string): IotStatus | 'unknown' => plantRows.get(plantId)?.iotStatus ?? 'unknown';
  const isActive = (plantId: string) => plantRows.get(plantId)?.iotStatus === 'active';

  const things = allThings.filter((t) => plantIdOfThing(t.thingName) !== null);
  const thingsByName = new Map(things.map((t) => [t.thingName, t]));
  const policies = allPolicies.filter((p) => plantIdOfPolicy(p) !== null);
  const rules = allRules.filter((r) => plantIdOfRule(r) !== null);
  const sharedRulePresent = allRules.includes(SHARED_RULE_NAME);
  // The shared policy (POLICY_MODE=shared) is infrastructure, never a plant's orphan: it is
  // expected while an active plant's record names it, and checked for attachment like any other.
  const sharedPolicyPresent = allPolicies.includes(SHARED_POLICY_NAME);
  const policyPresent = (name: string) =>
    name === SHARED_POLICY_NAME ? sharedPolicyPresent : policies.includes(name);
  const certificatesByArn = new Map(allCertificates.map((c) => [c.certificateArn, c]));
  const certificateIds = new Set(allCertificates.map((c) => c.certificateId));

  progress('listing thing principals');
  const principalsOfThing = new Map<string, string[]>();
  await mapLimit(things, LOOKUP_CONCURRENCY, async (t) => {
    principalsOfThing.set(t.thingName, await aws.thingPrincipals(t.thingName));
  });
  const ourThingsOfCertificate = new Map<string, string[]>();
  for (const [thingName, principals] of principalsOfThing) {
    for (const arn of principals)
      ourThingsOfCertificate.set(arn, [...(ourThingsOfCertificate.get(arn) ?? []), thingName]);
  }

  // --- Which certificates are ours, and what proves it -----------------------------------
  progress('attributing certificates');
  const rowsByCertificateId = new Map<string, KeyRow[]>();
  for (const row of keyRows) {
    if (row.certificateId)
      rowsByCertificateId.set(row.certificateId, [
        ...(rowsByCertificateId.get(row.certificateId) ?? []),
        row,
      ]);
  }
  const fingerprints = new Map<string, string | null>();
  const fingerprintOf = async (row: KeyRow): Promise<string | null> => {
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
  const attribution = new Map<string, Attribution>();
  const unrecorded = allCertificates.filter((c) => !rowsByCertificateId.has(c.certificateId));
  for (const c of allCertificates) {
    const rows = rowsByCertificateId.get(c.certificateId);
    const plantId = rows?.[0]?.plantId;
    if (rows && plantId) attribution.set(c.certificateId, { plantId, proof: 'record', rows });
  }
  await mapLimit(unrecorded, LOOKUP_CONCURRENCY, async (c) => {
    const pem = await aws.certificatePem(c.certificateId);
    const bySubject = pem ? plantIdOfCertificateSubject(pem) : null;
    const attachedThing = ourThingsOfCertificate.get(c.certificateArn)?.[0];
    const byAttachment = attachedThing ? plantIdOfThing(attachedThing) : null;
    const plantId = bySubject ?? byAttachment;
    if (!plantId) return; // not ours by any naming: someone else's certificate
    if (pem) {
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
      if (matching.length > 0) {
        attribution.set(c.certificateId, { plantId, proof: 'stored-key', rows: matching });
        return;
      }
    }
    attribution.set(c.certificateId, { plantId, proof: bySubject ? 'subject' : 'attachment', rows: [] });
  });

  // --- Judgement ---------------------------------------------------------------------------
  progress('comparing');
  const orphans: Orphan[] = [];
  const missing: MissingResource[] = [];
  const unattached: UnattachedCertificate[] = [];
  const groups = new Map<string, RemovalGroup>();
  const group = (plantId: string): RemovalGroup => {
    let g = groups.get(plantId);
    if (!g) {
      g = { plantId, plantStatus: statusOf(plantId), resources: [], steps: [] };
      groups.set(plantId, g);
    }
    return g;
  };
  /** Certificate ARNs that the plan removes: a thing or policy only they hold can go too. */
  const removedCertificateArns = new Set<string>();
  const rowsUsedByCertificates = new Set<string>();
  for (const a of attribution.values()) for (const row of a.rows) rowsUsedByCertificates.add(row.requestId);

  // Certificates first: things and policies can only be removed once their certificates are.
  const certificateOrphans = [...attribution.entries()]
    .map(([certificateId, a]) => ({
      certificate: allCertificates.find((c) => c.certificateId === certificateId),
      a,
    }))
    .filter((x): x is { certificate: AwsCertificate; a: Attribution } => x.certificate !== undefined)
    .filter(
      ({ certificate, a }) =>
        !inFlight.has(a.plantId) &&
        !(isActive(a.plantId) && plantRows.get(a.plantId)?.certificateId === certificate.certificateId),
    );
  await mapLimit(certificateOrphans, LOOKUP_CONCURRENCY, async ({ certificate, a }) => {
    const { plantId } = a;
    const proven = a.proof === 'record' || a.proof === 'stored-key';
    const [attachedPolicies, attachedThings] = proven
      ? await Promise.all([
          aws.attachedPolicies(certificate.certificateArn),
          aws.principalThings(certificate.certificateArn),
        ])
      : [[], []];
    const foreign = [
      ...attachedPolicies
        .filter((p) => p !== policyNameFor(plantId) && p !== SHARED_POLICY_NAME)
        .map((p) => `policy ${p}`),
      ...attachedThings.filter((t) => t !== thingNameFor(plantId)).map((t) => `thing ${t}`),
    ];
    const removable = proven && foreign.length === 0;
    const activeNow = isActive(plantId);
    orphans.push({
      kind: 'certificate',
      name: certificate.certificateId,
      arn: certificate.certificateArn,
      plantId,
      plantStatus: statusOf(plantId),
      reason: activeNow
        ? `plant ${plantId} is active with certificate ${plantRows.get(plantId)?.certificateId}; this one is extra`
        : `plant ${plantId} is ${statusOf(plantId)}: it should hold no certificate`,
      removable,
      proof: !proven
        ? `ours by ${a.proof} only: no stored record or key proves it`
        : foreign.length
          ? `attached to ${foreign.join(', ')}, which is not this plant's`
          : a.proof === 'record'
            ? 'certificate id in our certificates table'
            : `issued for our stored key (request ${a.rows.map((r) => r.requestId).join(', ')})`,
    });
    if (!removable) return;
    const g = group(plantId);
    g.resources.push(`certificate ${certificate.certificateId}`);
    const { certificateId, certificateArn } = certificate;
    const steps: RemovalStep[] = [];
    if (certificate.status === 'ACTIVE' || certificate.status === 'PENDING_ACTIVATION') {
      steps.push({ activity: 'deactivateCertificate', input: { certificateId } });
    }
    for (const policyName of attachedPolicies)
      steps.push({ activity: 'detachPolicy', input: { policyName, certificateArn } });
    for (const thingName of attachedThings) {
      steps.push({ activity: 'detachThingPrincipal', input: { thingName, certificateArn } });
      steps.push({ activity: 'waitForThingDetached', input: { thingName, certificateArn } });
    }
    steps.push({ activity: 'deleteCertificate', input: { certificateId } });
    // Its key goes too, unless the plant's current certificate was issued for the same key.
    const current = plantRows.get(plantId)?.certificateId;
    const currentRows = activeNow && current ? (attribution.get(current)?.rows ?? []) : [];
    for (const row of a.rows.filter(
      (r) => isLive(r) && !currentRows.some((c) => c.requestId === r.requestId),
    )) {
      steps.push({ activity: 'destroyStoredKey', input: { requestId: row.requestId } });
    }
    g.steps.push(...steps);
    removedCertificateArns.add(certificateArn);
  });

  // Expected resources of active plants, and what they are attached to.
  const activePlants = [...plantRows.values()].filter((p) => p.iotStatus === 'active' && !inFlight.has(p.id));
  await mapLimit(activePlants, LOOKUP_CONCURRENCY, async (plant) => {
    const thingName = plant.thingName ?? thingNameFor(plant.id);
    const policyName = plant.policyName ?? policyNameFor(plant.id);
    const thing = thingsByName.get(thingName);
    if (!thing) missing.push({ plantId: plant.id, kind: 'thing', name: thingName, reason: 'not in AWS' });
    if (!policyPresent(policyName))
      missing.push({ plantId: plant.id, kind: 'policy', name: policyName, reason: 'not in AWS' });
    if (plant.ruleName && !rules.includes(plant.ruleName)) {
      missing.push({ plantId: plant.id, kind: 'rule', name: plant.ruleName, reason: 'not in AWS' });
    }
    const certificate = plant.certificateId
      ? allCertificates.find((c) => c.certificateId === plant.certificateId)
      : undefined;
    if (!certificate) {
      missing.push({
        plantId: plant.id,
        kind: 'certificate',
        name: plant.certificateId ?? '(none recorded)',
        reason: 'not in AWS',
      });
      return;
    }
    if (certificate.status !== 'ACTIVE') {
      missing.push({
        plantId: plant.id,
        kind: 'certificate',
        name: certificate.certificateId,
        reason: `${certificate.status} in AWS`,
      });
    }
    if (thing && !(principalsOfThing.get(thingName) ?? []).includes(certificate.certificateArn)) {
      unattached.push({
        plantId: plant.id,
        certificateId: certificate.certificateId,
        from: 'thing',
        name: thingName,
      });
    }
    if (
      policyPresent(policyName) &&
      !(await aws.attachedPolicies(certificate.certificateArn)).includes(policyName)
    ) {
      unattached.push({
        plantId: plant.id,
        certificateId: certificate.certificateId,
        from: 'policy',
        name: policyName,
      });
    }
  });
  if (!sharedRulePresent && activePlants.some((p) => !p.ruleName)) {
    missing.push({
      plantId: null,
      kind: 'shared-rule',
      name: SHARED_RULE_NAME,
      reason: 'active plants route telemetry through it, but it is not in AWS',
    });
  }

  // Rules, things and policies of plants that should have none.
  for (const ruleName of rules) {
    const plantId = plantIdOfRule(ruleName) as string;
    if (inFlight.has(plantId) || (isActive(plantId) && plantRows.get(plantId)?.ruleName === ruleName))
      continue;
    const known = knownPlants.has(plantId);
    const sqlIsOurs = known && (await aws.ruleSql(ruleName)) === plantRuleSql(plantId);
    orphans.push({
      kind: 'rule',
      name: ruleName,
      plantId,
      plantStatus: statusOf(plantId),
      reason: isActive(plantId)
        ? `plant ${plantId} is active in shared-rule mode`
        : `plant ${plantId} is ${statusOf(plantId)}`,
      removable: sqlIsOurs,
      proof: !known
        ? 'ours by naming only: no record of the plant'
        : sqlIsOurs
          ? 'our naming and our SQL for a plant we know'
          : 'its SQL is not ours',
    });
    if (sqlIsOurs) {
      const g = group(plantId);
      g.resources.push(`rule ${ruleName}`);
      g.steps.push({ activity: 'removeTelemetryRoute', input: { plantId } });
    }
  }

  for (const thing of things) {
    const plantId = plantIdOfThing(thing.thingName) as string;
    if (inFlight.has(plantId) || isActive(plantId)) continue;
    const known = knownPlants.has(plantId);
    const attributeOk = thing.attributes.plantId === plantId;
    const held = (principalsOfThing.get(thing.thingName) ?? []).filter(
      (arn) => !removedCertificateArns.has(arn),
    );
    const removable = known && attributeOk && held.length === 0;
    orphans.push({
      kind: 'thing',
      name: thing.thingName,
      arn: thing.thingArn,
      plantId,
      plantStatus: statusOf(plantId),
      reason: `plant ${plantId} is ${statusOf(plantId)}`,
      removable,
      proof: !known
        ? 'ours by naming only: no record of the plant'
        : !attributeOk
          ? 'its plantId attribute is not this plant'
          : held.length
            ? `still holds certificates not proven ours: ${held.map((arn) => certificatesByArn.get(arn)?.certificateId ?? arn).join(', ')}`
            : 'our naming, our plantId attribute, a plant we know',
    });
    if (removable) {
      const g = group(plantId);
      g.resources.push(`thing ${thing.thingName}`);
      g.steps.push({ activity: 'deleteThing', input: { thingName: thing.thingName } });
    }
  }

  await mapLimit(
    policies.filter((name) => {
      const plantId = plantIdOfPolicy(name) as string;
      // An active plant on the shared policy has no use for a policy of its own.
      const recorded = plantRows.get(plantId)?.policyName ?? policyNameFor(plantId);
      return !inFlight.has(plantId) && !(isActive(plantId) && recorded === name);
    }),
    LOOKUP_CONCURRENCY,
    async (policyName) => {
      const plantId = plantIdOfPolicy(policyName) as string;
      const known = knownPlants.has(plantId);
      const document = known ? await aws.policyDocument(policyName) : undefined;
      const documentOk = document !== undefined && samePolicyDocument(document, policyDocumentFor(plantId));
      const held = documentOk
        ? (await aws.policyTargets(policyName)).filter((arn) => !removedCertificateArns.has(arn))
        : [];
      const removable = known && documentOk && held.length === 0;
      orphans.push({
        kind: 'policy',
        name: policyName,
        plantId,
        plantStatus: statusOf(plantId),
        reason: `plant ${plantId} is ${statusOf(plantId)}`,
        removable,
        proof: !known
          ? 'ours by naming only: no record of the plant'
          : !documentOk
            ? 'its document is not the one we create for this plant'
            : held.length
              ? `still attached to certificates not proven ours: ${held.join(', ')}`
              : 'our naming, our document, a plant we know',
      });
      if (removable) {
        const g = group(plantId);
        g.resources.push(`policy ${policyName}`);
        g.steps.push({ activity: 'deletePolicy', input: { policyName } });
      }
    },
  );

  // Keys we still hold for certificates that no longer exist.
  for (const row of keyRows.filter(isLive)) {
    if (inFlight.has(row.plantId) || rowsUsedByCertificates.has(row.requestId)) continue;
    const plant = plantRows.get(row.plantId);
    if (plant?.iotStatus === 'active' && row.certificateId && row.certificateId === plant.certificateId)
      continue; // reported missing
    if (row.certificateId && certificateIds.has(row.certificateId)) continue;
    orphans.push({
      kind: 'stored-key',
      name: row.requestId,
      plantId: row.plantId,
      plantStatus: statusOf(row.plantId),
      reason: row.certificateId
        ? `its certificate ${row.certificateId} is no longer in AWS`
        : 'no certificate in AWS was issued for it',
      removable: true,
      proof: 'our certificates table',
    });
    const g = group(row.plantId);
    g.resources.push(`stored key ${row.requestId}`);
    g.steps.push({ activity: 'destroyStoredKey', input: { requestId: row.requestId } });
  }

  // A plant with drift may just be mid-operation (a rotation's grace period keeps two
  // certificates for days while the plant stays active): ask Temporal before calling it drift.
  if (deps.temporal) {
    progress('checking running operations');
    const temporal = deps.temporal;
    const suspects = [
      ...new Set(
        [
          ...orphans.map((o) => o.plantId),
          ...missing.map((m) => m.plantId),
          ...unattached.map((u) => u.plantId),
        ].filter((id): id is string => id !== null),
      ),
    ];
    const running = await mapLimit(suspects, LOOKUP_CONCURRENCY, (plantId) =>
      runningOperation(temporal, plantId),
    );
    suspects.forEach((plantId, i) => {
      const workflowId = running[i];
      if (!workflowId) return;
      inFlight.set(plantId, `workflow ${workflowId} is running`);
      groups.delete(plantId);
    });
    const keep = <T extends { plantId: string | null }>(items: T[]) =>
      items.filter((item) => item.plantId === null || !inFlight.has(item.plantId));
    orphans.splice(0, orphans.length, ...keep(orphans));
    missing.splice(0, missing.length, ...keep(missing));
    unattached.splice(0, unattached.length, ...keep(unattached));
  }

  // Steps in the order AWS accepts, whatever order the lookups finished in.
  const rank: Record<RemovalStep['activity'], number> = {
    deactivateCertificate: 0,
    detachPolicy: 0,
    detachThingPrincipal: 0,
    waitForThingDetached: 0,
    deleteCertificate: 0,
    destroyStoredKey: 0,
    removeTelemetryRoute: 1,
    deleteThing: 2,
    deletePolicy: 3,
  };
  const plan = [...groups.values()].map((g) => ({
    ...g,
    steps: stableSort(g.steps, (s) => rank[s.activity]),
  }));

  const sortedOrphans = orphans.sort((a, b) => `${a.kind}${a.name}`.localeCompare(`${b.kind}${b.name}`));
  const report: DriftReport = {
    checkedAt: new Date().toISOString(),
    scanned: {
      plants: plantRows.size,
      activePlants: [...plantRows.values()].filter((p) => p.iotStatus === 'active').length,
      things: things.length,
      certificates: attribution.size,
      policies: policies.length,
      rules: rules.length + (sharedRulePresent ? 1 : 0),
      storedKeys: keyRows.filter(isLive).length,
    },
    orphans: sortedOrphans.slice(0, MAX_LISTED),
    missing: missing.slice(0, MAX_LISTED),
    unattached: unattached.slice(0, MAX_LISTED),
    inFlight: [...inFlight.entries()].slice(0, MAX_LISTED).map(([plantId, reason]) => ({ plantId, reason })),
    drift: orphans.length + missing.length + unattached.length,
  };
  return { report, plan: plan.slice(0, MAX_REMOVAL_GROUPS) };
}

function stableSort<T>(items: T[], key: (item: T) => number): T[] {
  return items
    .map((item, index) => ({ item, index }))
    .sort((a, b) => key(a.item) - key(b.item) || a.index - b.index)
    .map((x) => x.item);
}
