import type { CertificateRef } from './certificates.js';

/** What a rotation needs to know of the plant; ids only. */
export interface RotationTarget {
  thingName: string;
  policyName: string;
  current: CertificateRef & {
    /** Our record of its key; null for a certificate made outside solar-iot. */
    requestId: string | null;
  };
}

/** Certificate rotation's reads and the switch of the plant to its new certificate. */
export interface RotationActivities {
  /** The plant's current certificate; fails (not retryable) unless the plant is active. */
  beginRotation(input: { plantId: string }): Promise<RotationTarget>;
  /**
   * The switch: the plant's record names the new certificate from here on. Fails, not
   * retryably, unless the plant is still active on the certificate the rotation started from.
   */
  recordRotated(input: {
    plantId: string;
    previousCertificateId: string;
    certificate: CertificateRef;
  }): Promise<void>;
  /**
   * Active plants whose current certificate was activated more than `maxAgeDays` ago (database
   * clock), oldest first, and the cutoff that was used.
   */
  listCertificatesToRotate(input: {
    maxAgeDays: number;
    limit: number;
  }): Promise<{ activatedBefore: string; due: { plantId: string; certificateId: string }[] }>;
}
