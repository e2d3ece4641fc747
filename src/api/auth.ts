import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { errorPayload } from './errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller sent the API token. False on every request when the API runs without one. */
    authenticated: boolean;
  }
}

const digest = (value: string) => createHash('sha256').update(value).digest();

/** True when the request carries `Authorization: Bearer <token>` (compared in constant time). */
function carriesToken(request: FastifyRequest, expected: Buffer): boolean {
  const match = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '');
  // Compare digests: equal length, constant time, whatever the caller sent.
  return match?.[1] !== undefined && timingSafeEqual(digest(match[1]), expected);
}

/**
 * With a token, every route not marked public needs `Authorization: Bearer <API_TOKEN>`; public
 * routes still learn whether the caller sent it (to show details only to the operator).
 */
export function installAuth(app: FastifyInstance, token: string | undefined): void {
  app.decorateRequest('authenticated', false);
  if (!token) return;
  const expected = digest(token);
  app.addHook('onRequest', async (request, reply) => {
    request.authenticated = carriesToken(request, expected);
    if (request.authenticated || request.routeOptions.config.public) return;
    reply.header('www-authenticate', 'Bearer realm="solar-iot"');
    return reply
      .code(401)
      .send(
        errorPayload(
          'unauthorized',
          request.headers.authorization
            ? 'The API token is wrong'
            : 'This route needs the API token: send Authorization: Bearer <API_TOKEN> (`npm start` writes it to .data/api.token)',
        ),
      );
  });
}
