/**
 * What other parts of the product rely on: workflow inputs and results, the `status` query,
 * search attributes and workflow ids. Imported by workflows, activities and clients alike, so it
 * holds only types and Temporal definitions (no Node APIs).
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { defineQuery } from '@temporalio/workflow';
import type { IotStatus } from '../db/schema.js';

export const TASK_QUEUE = 'solar-iot';

export interface ProvisionPlantInput {
  plantId: string;
  plantName: string;
}

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
