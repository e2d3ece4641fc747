/**
 * What other parts of the product rely on: workflow inputs and results, the `status` query,
 * search attributes and workflow ids. Imported by workflows, activities and clients alike, so it
 * holds only types and Temporal definitions (no Node APIs).
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { IotStatus } from '../db/schema.js';

export const TASK_QUEUE = 'solar-iot';

/**
 * Where a plant's key is made. `server` (the default): here, as CERTIFICATE_MODE says, stored
 * encrypted for the installer's bundle. `device-csr`: on the device, which sends only a CSR
 * (submitCsrUpdate); no key of the plant is ever seen or stored here.
 */
export const PLANT_CERTIFICATE_MODES = ['server', 'device-csr'] as const;
export type PlantCertificateMode = (typeof PLANT_CERTIFICATE_MODES)[number];

/** How long a device-csr provision waits for its CSR unless told otherwise, and the bounds. */
export const DEFAULT_CSR_TIMEOUT_MS = 7 * 86_400_000;
export const MIN_CSR_TIMEOUT_MS = 1_000;
export const MAX_CSR_TIMEOUT_MS = 365 * 86_400_000;

export interface ProvisionPlantInput {
  plantId: string;
  plantName: string;
  /** Absent: `server`. Runs started before the option existed have none. */
  certificateMode?: PlantCertificateMode;
  /** device-csr only: how long to wait for the CSR before rolling back (default 7 days). */
  csrTimeoutMs?: number;
}

/** What the device (or the installer's app) sends: a PKCS#10 CSR in PEM, never a key. */
export interface SubmitCsrInput {
  csrPem: string;
}

export interface CsrAccepted {
  plantId: string;
  thingName: string;
}

/**
 * The CSR of a device-csr provision. Refused by the workflow (WorkflowUpdateFailedError, failure
 * type CsrNotExpected or CsrAlreadyAccepted) unless the provision waits for one and has none yet;
 * accepted, the provision goes on with it.
 */
export const submitCsrUpdate = defineUpdate<CsrAccepted, [SubmitCsrInput]>('submitCsr');

export interface DeprovisionPlantInput {
  plantId: string;
}

/** A provisioned plant's AWS IoT resources. Ids and names only: never key material. */
export interface PlantIotResources {
  thingName: string;
  thingArn: string;
  certificateId: string;
  certificateArn: string;
  policyName: string;
  /** Present when the plant has a rule of its own (per-plant mode); the shared rule is not listed. */
  ruleName?: string;
  endpoint: string;
}

export interface DeprovisionResult {
  plantId: string;
  removed: string[];
}

export interface OperationStatus {
  operation: 'provision' | 'deprovision';
  plantId: string;
  iotStatus: IotStatus;
  currentStep: string | null;
  stepsDone: string[];
  resources: Partial<PlantIotResources>;
  lastError: string | null;
}

export const statusQuery = defineQuery<OperationStatus>('status');

export const PlantIdSearchAttribute = defineSearchAttributeKey('PlantId', SearchAttributeType.KEYWORD);
export const IotStatusSearchAttribute = defineSearchAttributeKey('IotStatus', SearchAttributeType.KEYWORD);

export function provisionWorkflowId(plantId: string): string {
  return `provision-plant-${plantId}`;
}

export function deprovisionWorkflowId(plantId: string): string {
  return `deprovision-plant-${plantId}`;
}
