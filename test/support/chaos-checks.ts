/** What every chaos scenario checks at the end, and small helpers over workflows and AWS. */
import { type IoTClient, ListThingPrincipalsCommand } from '@aws-sdk/client-iot';
import type { Client } from '@temporalio/client';
import { and, eq, inArray, isNotNull, isNull } from 'drizzle-orm';
import { expect } from 'vitest';
import { certificates, plants } from '../../src/db/schema.js';
import { SHARED_POLICY_NAME } from '../../src/iot/naming.js';
import { plantIdOfPolicy, plantIdOfRule, plantIdOfThing } from '../../src/reconcile/index.js';
import { type OperationStatus, statusQuery } from '../../src/workflows/contract.js';
import { listAllCertificates, listAllPolicies, listAllThings, listAllTopicRules } from './aws-listings.js';
import type { ChaosStack } from './chaos-stack.js';

/** The workflow's `status` query, or undefined when it cannot answer (no worker, closed). */
export async function statusOf(client: Client, workflowId: string): Promise<OperationStatus | undefined> {
  try {
    return await client.workflow.getHandle(workflowId).query(statusQuery);
  } catch {
    return undefined;
  }
}

/** The attempt number of the last start of an activity type in a workflow's history (0 if never started). */
export async function lastAttempt(client: Client, workflowId: string, activityType: string): Promise<number> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const scheduled = new Set<string>();
  let attempt = 0;
  for (const event of history.events ?? []) {
    const s = event.activityTaskScheduledEventAttributes;
    if (s?.activityType?.name === activityType) scheduled.add(String(event.eventId));
    const started = event.activityTaskStartedEventAttributes;
    if (started && scheduled.has(String(started.scheduledEventId)))
      attempt = Math.max(attempt, started.attempt ?? 0);
  }
  return attempt;
}

/** Everything under our naming in moto, by plant. */
export async function awsInventory(iot: IoTClient) {
  const [things, certs, policies, rules] = await Promise.all([
    listAllThings(iot),
    listAllCertificates(iot),
    listAllPolicies(iot),
    listAllTopicRules(iot),
  ]);
  return {
    thingPlants: things
      .map((t) => plantIdOfThing(t.thingName ?? ''))
      .filter((id): id is string => id !== null),
    certificates: certs.map((c) => ({
      id: c.certificateId ?? '',
      arn: c.certificateArn ?? '',
      status: c.status,
    })),
    policyPlants: policies
      .map((p) => plantIdOfPolicy(p.policyName ?? ''))
      .filter((id): id is string => id !== null),
    rulePlants: rules.map((r) => plantIdOfRule(r.ruleName ?? '')).filter((id): id is string => id !== null),
  };
}

/**
 * The end state every scenario must reach: the active plants have exactly one certificate each,
 * ACTIVE, attached to their thing, recorded in PostgreSQL with its key; the others have nothing in
 * AWS and no key left; reconciliation reports zero drift and nothing in flight.
 */
export async function expectConsistent(
  stack: ChaosStack,
  expected: { active: string[]; gone: string[]; perPlantRules?: boolean },
): Promise<void> {
  const { iot } = stack;
  const db = stack.database.db;
  const inventory = await awsInventory(iot);
  const sorted = (a: string[]) => [...a].sort();
  expect(sorted(inventory.thingPlants)).toEqual(sorted(expected.active));
  if (expected.perPlantRules) expect(sorted(inventory.rulePlants)).toEqual(sorted(expected.active));
  expect(inventory.certificates).toHaveLength(expected.active.length);

  const rows = expected.active.length
    ? await db.select().from(plants).where(inArray(plants.id, expected.active))
    : [];
  expect(rows.map((r) => r.iotStatus)).toEqual(expected.active.map(() => 'active'));
  // A policy of its own for each active plant that records one; none with the shared policy.
  const ownPolicy = rows.filter((r) => r.policyName !== SHARED_POLICY_NAME).map((r) => r.id);
  expect(sorted(inventory.policyPlants)).toEqual(sorted(ownPolicy));
  for (const row of rows) {
    const { principals = [] } = await iot.send(
      new ListThingPrincipalsCommand({ thingName: row.thingName ?? '' }),
    );
    expect(principals).toEqual([row.certificateArn]);
    expect(inventory.certificates.find((c) => c.arn === row.certificateArn)?.status).toBe('ACTIVE');
  }
  const liveKeys = await db
    .select({ plantId: certificates.plantId, certificateId: certificates.certificateId })
    .from(certificates)
    .where(and(isNotNull(certificates.encryptedPrivateKey), isNull(certificates.destroyedAt)));
  expect(sorted(liveKeys.map((k) => k.plantId))).toEqual(sorted(expected.active));
  for (const row of rows)
    expect(liveKeys.find((k) => k.plantId === row.id)?.certificateId).toBe(row.certificateId);

  if (expected.gone.length) {
    const goneRows = await db.select().from(plants).where(inArray(plants.id, expected.gone));
    for (const row of goneRows) expect(['deprovisioned', 'failed']).toContain(row.iotStatus);
  }
  const report = await stack.reconcile();
  expect({
    drift: report.drift,
    orphans: report.orphans,
    missing: report.missing,
    unattached: report.unattached,
  }).toEqual({
    drift: 0,
    orphans: [],
    missing: [],
    unattached: [],
  });
  expect(report.inFlight).toEqual([]);
}

export async function plantStatus(stack: ChaosStack, plantId: string) {
  const [row] = await stack.database.db
    .select({ s: plants.iotStatus })
    .from(plants)
    .where(eq(plants.id, plantId));
  return row?.s;
}
