import { type Client, isGrpcServiceError } from '@temporalio/client';
// Default import: @temporalio/proto is CommonJS, and Node's ESM loader cannot name its exports.
import proto from '@temporalio/proto';
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
    if (await isRunning(temporal, workflowId)) return workflowId;
  }
  return null;
}

const { WORKFLOW_EXECUTION_STATUS_RUNNING } = proto.temporal.api.enums.v1.WorkflowExecutionStatus;
const GRPC_NOT_FOUND = 5;

/**
 * The run's status straight from the service: the handle's describe() also decodes the memo, which
 * fails for a run started under payload keys this process does not hold (another deployment's, a
 * retired one), and reconciliation needs only the status.
 */
async function isRunning(temporal: Client, workflowId: string): Promise<boolean> {
  try {
    const { workflowExecutionInfo } = await temporal.workflowService.describeWorkflowExecution({
      namespace: temporal.options.namespace,
      execution: { workflowId },
    });
    return workflowExecutionInfo?.status === WORKFLOW_EXECUTION_STATUS_RUNNING;
  } catch (error) {
    if (isGrpcServiceError(error) && error.code === GRPC_NOT_FOUND) return false;
    throw error;
  }
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
