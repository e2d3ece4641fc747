import type { PlantIotResources } from '../contract.js';
import type { PlantPolicy } from './policies.js';

/** A certificate the plant may still hold in AWS, as far as our records know. */
export interface StoredCertificate {
  requestId: string;
  certificateId: string | null;
  certificateArn: string | null;
}

/** The plant's IoT state in PostgreSQL: what operators and the plant service read. */
export interface PlantRecordActivities {
  /**
   * Creates the plant row if the plant service has not, and marks it provisioning. A plant that
   * is already active returns its resources (endpoint empty), so provisioning it again changes nothing.
   */
  beginProvisioning(input: { plantId: string; plantName: string }): Promise<PlantIotResources | null>;
  /** A device-csr provision starts, or stops, waiting for its CSR. */
  recordCsrWait(input: { plantId: string; iotStatus: 'awaiting-csr' | 'provisioning' }): Promise<void>;
  recordProvisioned(input: { plantId: string; resources: PlantIotResources }): Promise<void>;
  recordFailed(input: { plantId: string; reason: string }): Promise<void>;
  /** Marks the plant deprovisioning and lists every certificate it may still hold. */
  beginDeprovisioning(input: { plantId: string }): Promise<StoredCertificate[]>;
  /** The policy the plant's certificates carry, from our record; the plant's own name when unknown. */
  recordedPolicy(input: { plantId: string }): Promise<PlantPolicy>;
  recordDeprovisioned(input: { plantId: string }): Promise<void>;
}
