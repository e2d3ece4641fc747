/**
 * Each resource kind judged by the shared orphan rule (judge.ts). Certificates go first: a thing
 * or policy held only by certificates the plan removes can be removed with them.
 */
import { policyNameFor, SHARED_POLICY_NAME, thingNameFor } from '../iot/naming.js';
import { plantPolicyOrigin } from '../iot/policy-document.js';
import { plantRuleSql } from '../iot/topic-rule.js';
import type { Attribution } from './attribution.js';
import { isProven } from './attribution.js';
import { type IotReader, LOOKUP_CONCURRENCY, mapLimit } from './aws.js';
import { type Findings, isJudged, type Proof, recordOrphan } from './judge.js';
import { plantIdOfPolicy, plantIdOfRule, plantIdOfThing } from './names.js';
import { activePlant, isLive, type Snapshot, statusOf } from './snapshot.js';
import type { RemovalStep } from './types.js';

const NAMING_ONLY = 'ours by naming only: no record of the plant';

/** Judges the attributed certificates; returns the ARNs of those the plan removes. */
export async function judgeCertificates(
  snapshot: Snapshot,
  attribution: ReadonlyMap<string, Attribution>,
  aws: IotReader,
  findings: Findings,
): Promise<Set<string>> {
  const removed = new Set<string>();
  const candidates = [...attribution.values()].filter((a) =>
    isJudged(snapshot, a.plantId, (plant) => plant.certificateId === a.certificate.certificateId),
  );
  await mapLimit(candidates, LOOKUP_CONCURRENCY, async (a) => {
    const { certificate, plantId } = a;
    const [attachedPolicies, attachedThings] = isProven(a)
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
    const active = activePlant(snapshot, plantId);
    const removable = recordOrphan(findings, snapshot, {
      kind: 'certificate',
      name: certificate.certificateId,
      arn: certificate.certificateArn,
      plantId,
      reason: active
        ? `plant ${plantId} is active with certificate ${active.certificateId}; this one is extra`
        : `plant ${plantId} is ${statusOf(snapshot, plantId)}: it should hold no certificate`,
      proofs: [
        [isProven(a), `ours by ${a.proof} only: no stored record or key proves it`],
        [foreign.length === 0, `attached to ${foreign.join(', ')}, which is not this plant's`],
      ],
      proven:
        a.proof === 'record'
          ? 'certificate id in our certificates table'
          : `issued for our stored key (request ${a.rows.map((r) => r.requestId).join(', ')})`,
      resource: `certificate ${certificate.certificateId}`,
      steps: certificateRemoval(a, attachedPolicies, attachedThings, snapshot, attribution),
    });
    if (removable) removed.add(certificate.certificateArn);
  });
  return removed;
}

/** Detach everything, delete, then destroy its stored keys. */
function certificateRemoval(
  a: Attribution,
  attachedPolicies: readonly string[],
  attachedThings: readonly string[],
  snapshot: Snapshot,
  attribution: ReadonlyMap<string, Attribution>,
): RemovalStep[] {
  const { certificateId, certificateArn, status } = a.certificate;
  const steps: RemovalStep[] = [];
  if (status === 'ACTIVE' || status === 'PENDING_ACTIVATION') {
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
  const current = activePlant(snapshot, a.plantId)?.certificateId;
  const currentRows = current ? (attribution.get(current)?.rows ?? []) : [];
  for (const row of a.rows.filter(
    (r) => isLive(r) && !currentRows.some((c) => c.requestId === r.requestId),
  )) {
    steps.push({ activity: 'destroyStoredKey', input: { requestId: row.requestId } });
  }
  return steps;
}

export async function judgeRules(snapshot: Snapshot, aws: IotReader, findings: Findings): Promise<void> {
  for (const ruleName of snapshot.rules) {
    const plantId = plantIdOfRule(ruleName) as string;
    // An active plant without a rule of its own routes telemetry through the shared rule.
    if (!isJudged(snapshot, plantId, (plant) => plant.ruleName === ruleName)) continue;
    const known = snapshot.knownPlants.has(plantId);
    const sqlIsOurs = known && (await aws.ruleSql(ruleName)) === plantRuleSql(plantId);
    recordOrphan(findings, snapshot, {
      kind: 'rule',
      name: ruleName,
      plantId,
      reason: activePlant(snapshot, plantId)
        ? `plant ${plantId} is active in shared-rule mode`
        : `plant ${plantId} is ${statusOf(snapshot, plantId)}`,
      proofs: [
        [known, NAMING_ONLY],
        [sqlIsOurs, 'its SQL is not ours'],
      ],
      proven: 'our naming and our SQL for a plant we know',
      resource: `rule ${ruleName}`,
      steps: [{ activity: 'removeTelemetryRoute', input: { plantId } }],
    });
  }
}

export function judgeThings(
  snapshot: Snapshot,
  removedCertificateArns: ReadonlySet<string>,
  findings: Findings,
) {
  const certificateIdOf = new Map(snapshot.certificates.map((c) => [c.certificateArn, c.certificateId]));
  for (const thing of snapshot.things) {
    const plantId = plantIdOfThing(thing.thingName) as string;
    // Our naming gives a plant one thing name: an active plant's thing is always its own.
    if (!isJudged(snapshot, plantId, () => true)) continue;
    const held = (snapshot.principalsOfThing.get(thing.thingName) ?? []).filter(
      (arn) => !removedCertificateArns.has(arn),
    );
    recordOrphan(findings, snapshot, {
      kind: 'thing',
      name: thing.thingName,
      arn: thing.thingArn,
      plantId,
      reason: `plant ${plantId} is ${statusOf(snapshot, plantId)}`,
      proofs: [
        [snapshot.knownPlants.has(plantId), NAMING_ONLY],
        [thing.attributes.plantId === plantId, 'its plantId attribute is not this plant'],
        heldBy(
          held.map((arn) => certificateIdOf.get(arn) ?? arn),
          'still holds certificates not proven ours',
        ),
      ],
      proven: 'our naming, our plantId attribute, a plant we know',
      resource: `thing ${thing.thingName}`,
      steps: [{ activity: 'deleteThing', input: { thingName: thing.thingName } }],
    });
  }
}

export async function judgePolicies(
  snapshot: Snapshot,
  removedCertificateArns: ReadonlySet<string>,
  aws: IotReader,
  findings: Findings,
): Promise<void> {
  // An active plant on the shared policy has no use for a policy of its own.
  const candidates = snapshot.policies.filter((name) =>
    isJudged(
      snapshot,
      plantIdOfPolicy(name) as string,
      (plant) => (plant.policyName ?? policyNameFor(plant.id)) === name,
    ),
  );
  await mapLimit(candidates, LOOKUP_CONCURRENCY, async (policyName) => {
    const plantId = plantIdOfPolicy(policyName) as string;
    const known = snapshot.knownPlants.has(plantId);
    const document = known ? await aws.policyDocument(policyName) : undefined;
    // An earlier release's document for this plant (policy-history.ts) is ours as well.
    const documentOk = document !== undefined && plantPolicyOrigin(document, plantId) !== 'foreign';
    const held = documentOk
      ? (await aws.policyTargets(policyName)).filter((arn) => !removedCertificateArns.has(arn))
      : [];
    recordOrphan(findings, snapshot, {
      kind: 'policy',
      name: policyName,
      plantId,
      reason: `plant ${plantId} is ${statusOf(snapshot, plantId)}`,
      proofs: [
        [known, NAMING_ONLY],
        [documentOk, 'its document is not the one we create for this plant'],
        heldBy(held, 'still attached to certificates not proven ours'),
      ],
      proven: 'our naming, our document, a plant we know',
      resource: `policy ${policyName}`,
      steps: [{ activity: 'deletePolicy', input: { policyName } }],
    });
  });
}

/** Keys we still hold for certificates that no longer exist. */
export function judgeStoredKeys(
  snapshot: Snapshot,
  attribution: ReadonlyMap<string, Attribution>,
  findings: Findings,
): void {
  const judgedWithCertificate = new Set(
    [...attribution.values()].flatMap((a) => a.rows.map((r) => r.requestId)),
  );
  const certificateIds = new Set(snapshot.certificates.map((c) => c.certificateId));
  for (const row of snapshot.keyRows.filter(isLive)) {
    if (judgedWithCertificate.has(row.requestId)) continue;
    if (row.certificateId && certificateIds.has(row.certificateId)) continue;
    // An active plant's current certificate gone from AWS is reported missing instead.
    if (
      !isJudged(
        snapshot,
        row.plantId,
        (plant) => !!row.certificateId && row.certificateId === plant.certificateId,
      )
    )
      continue;
    recordOrphan(findings, snapshot, {
      kind: 'stored-key',
      name: row.requestId,
      plantId: row.plantId,
      reason: row.certificateId
        ? `its certificate ${row.certificateId} is no longer in AWS`
        : 'no certificate in AWS was issued for it',
      proofs: [],
      proven: 'our certificates table',
      resource: `stored key ${row.requestId}`,
      steps: [{ activity: 'destroyStoredKey', input: { requestId: row.requestId } }],
    });
  }
}

function heldBy(holders: readonly string[], failure: string): Proof {
  return [holders.length === 0, `${failure}: ${holders.join(', ')}`];
}
