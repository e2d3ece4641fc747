/** Schemas of certificate mode device-csr: the CSR a device sends, the certificate it gets. */
import { z } from 'zod';
import { MAX_CSR_PEM_LENGTH } from '../iot/device-csr.js';
import type { DeviceCertificate } from '../service/solar-iot.js';
import { IotMode } from './schemas.js';

/** The media types a raw PEM body may come as; JSON takes `{ "csr": "<PEM>" }`. */
export const PEM_MEDIA_TYPES = ['application/x-pem-file', 'application/pkcs10', 'text/plain'] as const;

const CsrPem = z.string().meta({
  description: `One PEM block "-----BEGIN CERTIFICATE REQUEST-----" (PKCS#10), at most ${MAX_CSR_PEM_LENGTH} characters: an RSA key of 2048 to 4096 bits or an EC key on P-256 or P-384, subject CN = the plant's thing name (solar-plant-<plantId>), signed with SHA-256, -384 or -512`,
});

/** Length is checked by the service, which names it (csr_too_large) rather than zod's generic message. */
export const CsrBody = z.union([CsrPem, z.object({ csr: CsrPem }).strict()]);

export const CsrBodyMediaTypes = {
  'application/x-pem-file': CsrPem,
  'application/json': z.object({ csr: CsrPem }).strict(),
};

export const DeviceCertificateSchema = z
  .object({
    iotMode: IotMode,
    plantId: z.string(),
    thingName: z.string(),
    certificateId: z.string(),
    certificateArn: z.string(),
    certificatePem: z
      .string()
      .nullable()
      .meta({ description: "The certificate AWS IoT issued for the CSR's key; null in mock mode" }),
    endpoint: z.string().meta({ description: 'The ATS endpoint the device connects to (port 8883)' }),
    privateKey: z.string().meta({ description: 'Where the private key is: on the device, never here' }),
  })
  .meta({ id: 'DeviceCertificate' }) satisfies z.ZodType<DeviceCertificate>;
