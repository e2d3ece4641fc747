/**
 * What active plants should hold in AWS: their thing, policy, rule and an ACTIVE certificate
 * attached to both thing and policy; and the shared rule while any active plant relies on it.
 * A rule (shared or a plant's) must also send its failed deliveries to the dead-letter queue:
 * one without that error action is reported, not changed (the next provision through it, or
 * updateRule for a plant's own rule, replaces it).
 */
import { policyNameFor, SHARED_POLICY_NAME, SHARED_RULE_NAME, thingNameFor } from '../iot/naming.js';
import { type IotReader, LOOKUP_CONCURRENCY, mapLimit } from './aws.js';
import type { Findings } from './judge.js';
import type { PlantRow, Snapshot } from './snapshot.js';
import type { MissingResource } from './types.js';

/**
 * The rule's error action, when it does not send to `deadLetterQueueUrl`: as a missing resource.
 * Without a known dead-letter queue (no telemetry queue configured) nothing is judged.
 */
async function errorActionDrift(
  aws: IotReader,
  ruleName: string,
  plantId: string | null,
  deadLetterQueueUrl: string | undefined,
): Promise<MissingResource | undefined> {
  if (!deadLetterQueueUrl) return undefined;
  const rule = await aws.rule(ruleName);
  const sentTo = rule?.errorAction?.sqs?.queueUrl;
  if (!rule || sentTo === deadLetterQueueUrl) return undefined;
  const fix =
    plantId === null
      ? 'the worker replaces it on the next provision'
      : 'updateRule, or the next provision of the plant, replaces it';
  return {
    plantId,
    kind: 'error-action',
    name: ruleName,
    reason: `${sentTo ? `its error action sends to ${sentTo}, not` : 'it has no error action to'} the dead-letter queue ${deadLetterQueueUrl}: a failed delivery would leave no trace there (${fix})`,
  };
}

export async function judgeActivePlants(
  snapshot: Snapshot,
  aws: IotReader,
  findings: Findings,
  deadLetterQueueUrl?: string,
): Promise<void> {
  const activePlants = [...snapshot.plants.values()].filter(
    (p) => p.iotStatus === 'active' && !snapshot.inFlight.has(p.id),
  );
  await mapLimit(activePlants, LOOKUP_CONCURRENCY, (plant) =>
    judgeActivePlant(snapshot, plant, aws, findings, deadLetterQueueUrl),
  );
  if (!activePlants.some((p) => !p.ruleName)) return;
  if (!snapshot.sharedRulePresent) {
    findings.missing.push({
      plantId: null,
      kind: 'shared-rule',
      name: SHARED_RULE_NAME,
      reason: 'active plants route telemetry through it, but it is not in AWS',
    });
    return;
  }
  const drift = await errorActionDrift(aws, SHARED_RULE_NAME, null, deadLetterQueueUrl);
  if (drift) findings.missing.push(drift);
}

async function judgeActivePlant(
  snapshot: Snapshot,
  plant: PlantRow,
  aws: IotReader,
  { missing, unattached }: Findings,
  deadLetterQueueUrl: string | undefined,
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
  } else if (plant.ruleName) {
    const drift = await errorActionDrift(aws, plant.ruleName, plantId, deadLetterQueueUrl);
    if (drift) missing.push(drift);
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
