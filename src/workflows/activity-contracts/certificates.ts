/** What workflows may know of a certificate: ids, never PEM or key. */
export interface CertificateRef {
  certificateId: string;
  certificateArn: string;
}

/**
 * The plant's certificates. A certificate is made for a request id (one per workflow run): its
 * key is stored under that id, so every retry of the request ends with the same certificate.
 */
export interface CertificateActivities {
  /** Issues the request's certificate (CERTIFICATE_MODE decides how), or returns the one it has. */
  createCertificate(input: { plantId: string; requestId: string }): Promise<CertificateRef>;
  /**
   * Certificate mode device-csr: checks the device's CSR (key, subject, signature) and has AWS
   * certify it; the request's row records the certificate and never holds a key.
   */
  createCertificateFromDeviceCsr(input: {
    plantId: string;
    requestId: string;
    csrPem: string;
  }): Promise<CertificateRef>;
  /**
   * The certificate a request produced, if any, including one whose creation answer was lost
   * (recognised by the stored key's public key, or by the CSR's for a device-csr request).
   */
  findCertificate(input: { requestId: string; csrPem?: string }): Promise<CertificateRef | null>;
  /** Idempotent: a certificate already gone counts as deactivated. */
  deactivateCertificate(input: { certificateId: string }): Promise<void>;
  /** Idempotent; fails retryably while attachments are still propagating after a detach. */
  deleteCertificate(input: { certificateId: string }): Promise<void>;
  /** Erases the sealed private key once its certificate is gone from AWS. */
  destroyStoredKey(input: { requestId: string }): Promise<void>;
}
