import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import { deprovisionWorkflowId, provisionWorkflowId } from '../workflows/contract.js';
import { LOOKUP_CONCURRENCY, mapLimit } from './aws.js';
import type { Findings } from './judge.js';

/** Rotation's id; must match rotateCertificateWorkflowId in src/workflows/rotate-certificate.ts. */
const rotationWorkflowId = (plantId: string) => `rotate-certificate-${plantId}`;

/**
 * The workflow id of an operation running on the plant (provision, deprovision, certificate
 * rotation), or null. While one runs, a plant legitimately has half-made, extra (a rotation's
 * grace period: two certificates) or half-removed resources: reconciliation leaves it alone.
 */
export async function runningOperation(temporal: Client, plantId: string): Promise<string | null> {
  for (const workflowId of [
    provisionWorkflowId(plantId),
    deprovisionWorkflowId(plantId),
    rotationWorkflowId(plantId),
  ]) {
    try {
      const { status } = await temporal.workflow.getHandle(workflowId).describe();
      if (status.name === 'RUNNING') return workflowId;
    } catch (error) {
      if (!(error instanceof WorkflowNotFoundError)) throw error;
    }
  }
  return null;
}

/**
 * A plant with drift may just be mid-operation (a rotation's grace period keeps two certificates
 * for days while the plant stays active): Temporal is asked about those plants only, and a plant
 * with an operation running joins `inFlight` and leaves the findings and the plan.
 */
export async function excludeRunningOperations(
  temporal: Client,
  findings: Findings,
  inFlight: ReadonlyMap<string, string>,
): Promise<{ findings: Findings; inFlight: Map<string, string> }> {
  const { orphans, missing, unattached, groups } = findings;
  const suspects = [
    ...new Set(
      [...orphans, ...missing, ...unattached].map((f) => f.plantId).filter((id): id is string => id !== null),
    ),
  ];
  const running = await mapLimit(suspects, LOOKUP_CONCURRENCY, (plantId) =>
    runningOperation(temporal, plantId),
  );
  const stillInFlight = new Map(inFlight);
  const remaining = new Map(groups);
  suspects.forEach((plantId, i) => {
    const workflowId = running[i];
    if (!workflowId) return;
    stillInFlight.set(plantId, `workflow ${workflowId} is running`);
    remaining.delete(plantId);
  });
  const keep = <T extends { plantId: string | null }>(items: T[]) =>
    items.filter((item) => item.plantId === null || !stillInFlight.has(item.plantId));
  return {
    findings: {
      orphans: keep(orphans),
      missing: keep(missing),
      unattached: keep(unattached),
      groups: remaining,
    },
    inFlight: stillInFlight,
  };
}
