/**
 * Reconciliation's contract: the drift report and the removal plan. Types only (no Node APIs), so
 * the reconcile workflow, activities, CLI and API can all import them.
 */
import type { IotStatus } from '../db/schema.js';

/** The reconcile workflow's type name and its fixed id: one reconciliation at a time. */
export const RECONCILE_WORKFLOW_TYPE = 'reconcile';
export const RECONCILE_WORKFLOW_ID = 'reconcile';
export const RECONCILE_SCHEDULE_ID = 'solar-iot-reconcile';

export type ResourceKind = 'thing' | 'certificate' | 'policy' | 'rule' | 'stored-key';

/** An AWS resource (or a stored key) of ours that no plant should have. */
export interface Orphan {
  kind: ResourceKind;
  /** Thing, policy or rule name; certificate id; for a stored key, its request id. */
  name: string;
  arn?: string;
  /** The plant our naming (or our records) ties it to; null when nothing does. */
  plantId: string | null;
  /** The plant's IoT status in PostgreSQL; `unknown` when we have no record of the plant. */
  plantStatus: IotStatus | 'unknown';
  reason: string;
  /** True when our naming AND our stored records or keys prove it ours: `--remove` deletes it. */
  removable: boolean;
  /** What proves it ours, or why that is not proven. */
  proof: string;
}

/** `error-action`: a telemetry rule (shared or a plant's) without its error action to the dead-letter queue. */
export type ExpectedKind = 'thing' | 'certificate' | 'policy' | 'rule' | 'shared-rule' | 'error-action';

/**
 * A resource an active plant should have in AWS but has not (or has, inactive; or, for a rule,
 * has without the error action that keeps its failed deliveries).
 */
export interface MissingResource {
  plantId: string | null;
  kind: ExpectedKind;
  name: string;
  reason: string;
}

/** An active plant's certificate not attached to its thing or its policy. */
export interface UnattachedCertificate {
  plantId: string;
  certificateId: string;
  /** What the certificate should be attached to but is not. */
  from: 'thing' | 'policy';
  name: string;
}

export interface DriftReport {
  checkedAt: string;
  scanned: {
    plants: number;
    activePlants: number;
    things: number;
    certificates: number;
    policies: number;
    rules: number;
    storedKeys: number;
  };
  orphans: Orphan[];
  missing: MissingResource[];
  unattached: UnattachedCertificate[];
  /** Plants with an operation running (or whose record changed during the check): not judged. */
  inFlight: { plantId: string; reason: string }[];
  /** orphans + missing + unattached. Zero means AWS and PostgreSQL agree. */
  drift: number;
}

/** What the reconcile workflow's report activity answers: the report and its removal plan. */
export interface ReportWithPlan {
  report: DriftReport;
  plan: RemovalGroup[];
}

/** One call of an existing idempotent activity, in the order AWS accepts. */
export type RemovalStep =
  | { activity: 'deactivateCertificate'; input: { certificateId: string } }
  | { activity: 'detachPolicy'; input: { policyName: string; certificateArn: string } }
  | { activity: 'detachThingPrincipal'; input: { thingName: string; certificateArn: string } }
  | { activity: 'waitForThingDetached'; input: { thingName: string; certificateArn: string } }
  | { activity: 'deleteCertificate'; input: { certificateId: string } }
  | { activity: 'removeTelemetryRoute'; input: { plantId: string } }
  | { activity: 'deleteThing'; input: { thingName: string } }
  | { activity: 'deletePolicy'; input: { policyName: string } }
  | { activity: 'destroyStoredKey'; input: { requestId: string } };

/** The removable orphans of one plant and how to remove them. */
export interface RemovalGroup {
  plantId: string;
  /** The status the plan was made for: the group is skipped if it has changed since. */
  plantStatus: IotStatus | 'unknown';
  /** `certificate abc`, `thing solar-plant-x`, ... */
  resources: string[];
  steps: RemovalStep[];
}

export interface ReconcileInput {
  /** Remove the orphans proven ours. Default false: report only. */
  remove?: boolean;
}

export interface RemovalOutcome {
  removed: string[];
  /** Groups not touched because the plant changed or an operation started since the report. */
  skipped: { plantId: string; reason: string }[];
  failed: { plantId: string; reason: string }[];
}

export interface ReconcileResult extends RemovalOutcome {
  report: DriftReport;
  /** The report after removal (only when `remove`). */
  after?: DriftReport;
}
