import { removeSteps } from './activity-options.js';

/**
 * Removes a certificate from AWS in the only order AWS accepts (deactivate, detach policy, detach
 * from thing and wait for it, delete), then destroys its stored key. Every call is idempotent, so
 * this serves rollbacks and deprovisions of fully, partly or never provisioned plants alike.
 */
export async function releaseCertificate(opts: {
  /** Our record of the certificate's key; absent for a certificate found only attached in AWS. */
  requestId?: string;
  thingName: string;
  policyName: string;
  /** Certificate mode device-csr: the device's CSR, whose public key finds a lost certificate. */
  csrPem?: string;
  /** Known already (deprovision); otherwise looked up by request, lost responses included. */
  certificate?: { certificateId: string; certificateArn: string } | null;
}): Promise<void> {
  const { requestId, thingName, policyName, csrPem } = opts;
  const certificate =
    opts.certificate ??
    (requestId ? await removeSteps.findCertificate({ requestId, ...(csrPem ? { csrPem } : {}) }) : null);
  if (certificate) {
    const { certificateId, certificateArn } = certificate;
    await removeSteps.deactivateCertificate({ certificateId });
    await removeSteps.detachPolicy({ policyName, certificateArn });
    await removeSteps.detachThingPrincipal({ thingName, certificateArn });
    await removeSteps.waitForThingDetached({ thingName, certificateArn });
    await removeSteps.deleteCertificate({ certificateId });
  }
  if (requestId) await removeSteps.destroyStoredKey({ requestId });
}
