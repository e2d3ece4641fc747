/** Schemas of the certificate-age report (GET /certificates/aging). */
import { z } from 'zod';
import {
  type AgingCertificatesReport,
  MAX_AGING_LIMIT,
  MAX_CERTIFICATE_AGE_DAYS,
} from '../service/certificate-age.js';

export const AgingCertificatesQuery = z
  .object({
    olderThanDays: z.coerce.number().int().min(1).max(MAX_CERTIFICATE_AGE_DAYS).optional().meta({
      description: 'Age in days; default CERTIFICATE_MAX_AGE_DAYS of the server (365 unless set)',
      example: 365,
    }),
    limit: z.coerce
      .number()
      .int()
      .min(1)
      .max(MAX_AGING_LIMIT)
      .optional()
      .meta({ description: 'Certificates listed at most, oldest first (default 100); `total` counts all' }),
  })
  .strict();

export const AgingCertificatesSchema = z
  .object({
    olderThanDays: z.number().int(),
    activatedBefore: z.string().meta({ description: 'Certificates activated before this time are listed' }),
    total: z.number().int().meta({ description: 'Every aging certificate, also those beyond limit' }),
    certificates: z.array(
      z.object({
        plantId: z.string(),
        plantName: z.string(),
        certificateId: z.string(),
        activatedAt: z.string(),
        ageDays: z.number().int(),
      }),
    ),
  })
  .meta({ id: 'AgingCertificates' }) satisfies z.ZodType<AgingCertificatesReport>;
