/**
 * What clients, the Schedule and the rotation workflows share: inputs, results, the status
 * query, the grace-period signal, workflow ids and defaults. No Node APIs (the workflow sandbox
 * imports it).
 */
import type { Duration } from '@temporalio/common';
import { defineQuery, defineSignal } from '@temporalio/workflow';

export const DEFAULT_GRACE_PERIOD = '7d';
export const DEFAULT_MAX_CERTIFICATE_AGE_DAYS = 365;
export const DEFAULT_MAX_ROTATIONS_PER_RUN = 20;
export const MAX_ROTATIONS_PER_RUN = 500;
export const MAX_GRACE_PERIOD_MS = 365 * 24 * 3600 * 1000;

export interface RotateCertificateInput {
  plantId: string;
  /** How long old and new certificate both work, so the device can switch (default 7 days). */
  gracePeriod?: Duration;
}

export interface RotateCertificateResult {
  plantId: string;
  previousCertificateId: string;
  certificateId: string;
  certificateArn: string;
}

export type RotationPhase = 'starting' | 'issuing' | 'grace-period' | 'retiring' | 'done' | 'failed';

/** Ids and times only, like every other workflow state. */
export interface RotationStatus {
  plantId: string;
  phase: RotationPhase;
  previousCertificateId: string | null;
  certificateId: string | null;
  /** When the old certificate is retired unless `endGracePeriod` is signalled (ISO time). */
  graceEndsAt: string | null;
  lastError: string | null;
}

export const rotationStatusQuery = defineQuery<RotationStatus>('rotationStatus');
/** The installer confirmed the device uses the new certificate: retire the old one now. */
export const endGracePeriodSignal = defineSignal('endGracePeriod');

export function rotateCertificateWorkflowId(plantId: string): string {
  return `rotate-certificate-${plantId}`;
}

export interface RotateExpiringInput {
  /** Certificates activated longer ago than this are rotated (default 365). */
  maxAgeDays?: number;
  /** At most this many rotations are started per run (default 20). */
  maxRotations?: number;
  gracePeriod?: Duration;
}

export interface RotateExpiringResult {
  activatedBefore: string;
  started: string[];
  /** Plants whose rotation was already running (started by an earlier run or by hand). */
  alreadyRunning: string[];
}
