/**
 * What active plants should hold in AWS: their thing, policy, rule and an ACTIVE certificate
 * attached to both thing and policy; and the shared rule while any active plant relies on it.
 */
import { policyNameFor, SHARED_POLICY_NAME, SHARED_RULE_NAME, thingNameFor } from '../iot/naming.js';
import { type IotReader, LOOKUP_CONCURRENCY, mapLimit } from './aws.js';
import type { Findings } from './judge.js';
import type { PlantRow, Snapshot } from './snapshot.js';

export async function judgeActivePlants(
  snapshot: Snapshot,
  aws: IotReader,
  findings: Findings,
): Promise<void> {
  const activePlants = [...snapshot.plants.values()].filter(
    (p) => p.iotStatus === 'active' && !snapshot.inFlight.has(p.id),
  );
  await mapLimit(activePlants, LOOKUP_CONCURRENCY, (plant) =>
    judgeActivePlant(snapshot, plant, aws, findings),
  );
  if (!snapshot.sharedRulePresent && activePlants.some((p) => !p.ruleName)) {
    findings.missing.push({
      plantId: null,
      kind: 'shared-rule',
      name: SHARED_RULE_NAME,
      reason: 'active plants route telemetry through it, but it is not in AWS',
    });
  }
}

async function judgeActivePlant(
  snapshot: Snapshot,
  plant: PlantRow,
  aws: IotReader,
  { missing, unattached }: Findings,
): Promise<void> {
  const plantId = plant.id;
  const thingName = plant.thingName ?? thingNameFor(plantId);
  const policyName = plant.policyName ?? policyNameFor(plantId);
  const thingPresent = snapshot.things.some((t) => t.thingName === thingName);
  // The shared policy (POLICY_MODE=shared) is expected while an active plant's record names it.
  const policyPresent =
    policyName === SHARED_POLICY_NAME ? snapshot.sharedPolicyPresent : snapshot.policies.includes(policyName);
  if (!thingPresent) missing.push({ plantId, kind: 'thing', name: thingName, reason: 'not in AWS' });
  if (!policyPresent) missing.push({ plantId, kind: 'policy', name: policyName, reason: 'not in AWS' });
  if (plant.ruleName && !snapshot.rules.includes(plant.ruleName)) {
    missing.push({ plantId, kind: 'rule', name: plant.ruleName, reason: 'not in AWS' });
  }
  const certificate = plant.certificateId
    ? snapshot.certificates.find((c) => c.certificateId === plant.certificateId)
    : undefined;
  if (!certificate) {
    missing.push({
      plantId,
      kind: 'certificate',
      name: plant.certificateId ?? '(none recorded)',
      reason: 'not in AWS',
    });
    return;
  }
  const { certificateId, certificateArn } = certificate;
  if (certificate.status !== 'ACTIVE') {
    missing.push({
      plantId,
      kind: 'certificate',
      name: certificateId,
      reason: `${certificate.status} in AWS`,
    });
  }
  if (thingPresent && !(snapshot.principalsOfThing.get(thingName) ?? []).includes(certificateArn)) {
    unattached.push({ plantId, certificateId, from: 'thing', name: thingName });
  }
  if (policyPresent && !(await aws.attachedPolicies(certificateArn)).includes(policyName)) {
    unattached.push({ plantId, certificateId, from: 'policy', name: policyName });
  }
}
