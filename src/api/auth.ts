import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { errorPayload } from './errors.js';

const digest = (value: string) => createHash('sha256').update(value).digest();

/** With a token, every route not marked public needs `Authorization: Bearer <API_TOKEN>`. */
export function installAuth(app: FastifyInstance, token: string | undefined): void {
  if (!token) return;
  const expected = digest(token);
  app.addHook('onRequest', async (request, reply) => {
    if (request.routeOptions.config.public) return;
    const header = request.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    // Compare digests: equal length, constant time, whatever the caller sent.
    if (match?.[1] && timingSafeEqual(digest(match[1]), expected)) return;
    reply.header('www-authenticate', 'Bearer realm="solar-iot"');
    return reply
      .code(401)
      .send(
        errorPayload(
          'unauthorized',
          header
            ? 'The API token is wrong'
            : 'This route needs the API token: send Authorization: Bearer <API_TOKEN>',
        ),
      );
  });
}
