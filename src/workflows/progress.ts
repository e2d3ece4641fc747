import { setHandler, upsertSearchAttributes } from '@temporalio/workflow';
import type { IotStatus } from '../db/schema.js';
import {
  IotStatusSearchAttribute,
  type OperationStatus,
  PlantIdSearchAttribute,
  type PlantIotResources,
  statusQuery,
} from './contract.js';
import { messageOf } from './saga.js';

/**
 * What an operator sees of a running operation: the `status` query, and the PlantId / IotStatus
 * search attributes that find it in the Web UI.
 */
export class Progress {
  private readonly state: OperationStatus;

  constructor(operation: OperationStatus['operation'], plantId: string, iotStatus: IotStatus) {
    this.state = {
      operation,
      plantId,
      iotStatus,
      currentStep: null,
      stepsDone: [],
      resources: {},
      lastError: null,
    };
    setHandler(statusQuery, () => structuredCloneOf(this.state));
    upsertSearchAttributes([
      { key: PlantIdSearchAttribute, value: plantId },
      { key: IotStatusSearchAttribute, value: iotStatus },
    ]);
  }

  /** Runs one named step, recording it as current, then done. */
  async step<T>(name: string, run: () => Promise<T>): Promise<T> {
    this.state.currentStep = name;
    const result = await run();
    this.state.stepsDone.push(name);
    this.state.currentStep = null;
    return result;
  }

  currentStep(): string | null {
    return this.state.currentStep;
  }

  resources(found: Partial<PlantIotResources>): void {
    Object.assign(this.state.resources, found);
  }

  failed(error: unknown): string {
    this.state.lastError = messageOf(error);
    return this.state.lastError;
  }

  status(iotStatus: IotStatus): void {
    this.state.iotStatus = iotStatus;
    upsertSearchAttributes([{ key: IotStatusSearchAttribute, value: iotStatus }]);
  }
}

function structuredCloneOf<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}
