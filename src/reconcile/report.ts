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
 *
 * The phases: read one snapshot, attribute certificates, judge each resource kind (judge.ts holds
 * the rule they share), leave out plants with an operation running, order the plan.
 */
import type { IoTClient } from '@aws-sdk/client-iot';
import type { Client } from '@temporalio/client';
import type { IotSettings, KeyVault } from '../activities/deps.js';
import { defaultDeadLetterQueueUrl } from '../config/index.js';
import type { Db } from '../db/client.js';
import { type Attribution, attributeCertificates } from './attribution.js';
import { IotReader } from './aws.js';
import { judgeActivePlants } from './expected.js';
import { type Findings, noFindings } from './judge.js';
import { excludeRunningOperations } from './operations.js';
import { judgeCertificates, judgePolicies, judgeRules, judgeStoredKeys, judgeThings } from './orphans.js';
import { orderPlan } from './plan.js';
import { isLive, readSnapshot, type Snapshot } from './snapshot.js';
import type { DriftReport, ReportWithPlan } from './types.js';

/** Lists in a report stop here (counts stay exact); keeps workflow payloads far below 2 MB. */
export const MAX_LISTED = 500;
/** Plants whose orphans one run removes; the next run takes the rest. */
export const MAX_REMOVAL_GROUPS = 200;

export interface ReportDeps {
  iot: IoTClient;
  db: Db;
  vault: KeyVault;
  /** When given, plants with drift are checked for a running operation (and then left alone). */
  temporal?: Client | undefined;
  /** The queues the rules should name; without them the rules' error action is not judged. */
  settings?: Pick<IotSettings, 'sqsQueueUrl' | 'deadLetterQueueUrl'> | undefined;
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
  const snapshot = await readSnapshot(aws, deps.db, progress);
  progress('attributing certificates');
  const attribution = await attributeCertificates(snapshot, aws, deps.vault);
  progress('comparing');
  const deadLetterQueueUrl =
    deps.settings?.deadLetterQueueUrl ?? defaultDeadLetterQueueUrl(deps.settings?.sqsQueueUrl);
  let findings = await judge(snapshot, attribution, aws, deadLetterQueueUrl);
  let inFlight = snapshot.inFlight;
  if (deps.temporal) {
    progress('checking running operations');
    ({ findings, inFlight } = await excludeRunningOperations(deps.temporal, findings, inFlight));
  }
  const plan = orderPlan(findings.groups.values());
  return {
    report: summarize(snapshot, attribution, findings, inFlight),
    plan: plan.slice(0, MAX_REMOVAL_GROUPS),
  };
}

/** In this order: things and policies held only by removed certificates depend on them. */
async function judge(
  snapshot: Snapshot,
  attribution: ReadonlyMap<string, Attribution>,
  aws: IotReader,
  deadLetterQueueUrl: string | undefined,
): Promise<Findings> {
  const findings = noFindings();
  const removedCertificateArns = await judgeCertificates(snapshot, attribution, aws, findings);
  await judgeActivePlants(snapshot, aws, findings, deadLetterQueueUrl);
  await judgeRules(snapshot, aws, findings);
  judgeThings(snapshot, removedCertificateArns, findings);
  await judgePolicies(snapshot, removedCertificateArns, aws, findings);
  judgeStoredKeys(snapshot, attribution, findings);
  return findings;
}

function summarize(
  snapshot: Snapshot,
  attribution: ReadonlyMap<string, Attribution>,
  { orphans, missing, unattached }: Findings,
  inFlight: ReadonlyMap<string, string>,
): DriftReport {
  const sortedOrphans = [...orphans].sort((a, b) => `${a.kind}${a.name}`.localeCompare(`${b.kind}${b.name}`));
  return {
    checkedAt: new Date().toISOString(),
    scanned: {
      plants: snapshot.plants.size,
      activePlants: [...snapshot.plants.values()].filter((p) => p.iotStatus === 'active').length,
      things: snapshot.things.length,
      certificates: attribution.size,
      policies: snapshot.policies.length,
      rules: snapshot.rules.length + (snapshot.sharedRulePresent ? 1 : 0),
      storedKeys: snapshot.keyRows.filter(isLive).length,
    },
    orphans: sortedOrphans.slice(0, MAX_LISTED),
    missing: missing.slice(0, MAX_LISTED),
    unattached: unattached.slice(0, MAX_LISTED),
    inFlight: [...inFlight.entries()].slice(0, MAX_LISTED).map(([plantId, reason]) => ({ plantId, reason })),
    drift: orphans.length + missing.length + unattached.length,
  };
}
