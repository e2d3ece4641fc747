import type { FastifyInstance } from 'fastify';
import type { SolarIot } from '../../service/solar-iot.js';
import { AgingCertificatesQuery, AgingCertificatesSchema } from '../certificate-schemas.js';
import type { RouteTable } from '../route.js';

export function certificateRoutes(app: FastifyInstance, table: RouteTable, solarIot: SolarIot): void {
  table.add(app, {
    method: 'GET',
    url: '/certificates/aging',
    operationId: 'listAgingCertificates',
    summary: 'Active plants whose certificate is older than an age (default CERTIFICATE_MAX_AGE_DAYS)',
    description:
      'Oldest first. Automatic rotation is off by default: rotate these on request once the installer can install the new bundle.',
    tag: 'certificates',
    query: AgingCertificatesQuery,
    status: 200,
    response: AgingCertificatesSchema,
    errors: [503],
    handler: ({ query }) => solarIot.listAgingCertificates(query),
  });
}
