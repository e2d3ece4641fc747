import type { FastifyInstance } from 'fastify';
import type { SolarIot } from '../../service/solar-iot.js';
import {
  CsrBody,
  CsrBodyMediaTypes,
  DeviceCertificateSchema,
  PEM_MEDIA_TYPES,
} from '../device-csr-schemas.js';
import type { RouteTable } from '../route.js';
import { PlantParams } from '../schemas.js';

/** Certificate mode device-csr: the device's CSR in, its certificate out. */
export function deviceCsrRoutes(app: FastifyInstance, table: RouteTable, solarIot: SolarIot): void {
  // A PEM body as the device or `curl --data-binary @device.csr` sends it; fastify reads text/plain already.
  app.addContentTypeParser(
    PEM_MEDIA_TYPES.filter((type) => type !== 'text/plain'),
    { parseAs: 'string' },
    (_request, body, done) => done(null, body),
  );

  table.add(app, {
    method: 'POST',
    url: '/plants/:id/csr',
    operationId: 'submitDeviceCsr',
    summary:
      'Send the CSR of a plant provisioned with certificateMode device-csr; answers with its certificate',
    description:
      'The device (or the installer\'s app) made its own key; only this CSR leaves it. The body is the PEM (Content-Type application/x-pem-file, application/pkcs10 or text/plain) or JSON {"csr": "<PEM>"}. Checked (400 invalid_csr or csr_too_large, saying what is wrong), handed to the plant\'s provision, which must be waiting for one (409 csr_not_expected) and takes one (409 csr_already_accepted), of a key no certificate of another plant has (409 csr_key_in_use: one key pair, one plant); answers once the provision finished, with the certificate AWS IoT issued for the CSR\'s key. No private key is ever sent, seen or stored. The answer comes within 20 s: when the provision has not taken the CSR by then (no worker runs it) it is 504 csr_not_answered, when it took it but has not finished (a worker stopped, AWS slow) 504 certificate_pending; both leave the provision as it is, and the same CSR sent again later answers with the certificate once it is issued.',
    tag: 'plants',
    params: PlantParams,
    body: CsrBody,
    bodyMediaTypes: CsrBodyMediaTypes,
    status: 200,
    response: DeviceCertificateSchema,
    errors: [404, 409, 503, 504],
    handler: ({ params, body }) =>
      solarIot.submitDeviceCsr(params.id, typeof body === 'string' ? body : body.csr),
  });
}
