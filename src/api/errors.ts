/** Every failure leaves the API as JSON `{ error: { code, message } }` with a fitting status. */
import type { FastifyError, FastifyInstance } from 'fastify';
import { DependencyUnavailableError, type ErrorKind, SolarIotError } from '../service/errors.js';

/** Request bodies: far above any plant, shadow (8 KB) or command (128 KB) this API takes. */
export const MAX_BODY_BYTES = 256 * 1024;

const STATUS_OF_KIND: Record<ErrorKind, number> = {
  invalid: 400,
  not_found: 404,
  conflict: 409,
  unavailable: 503,
  failed: 500,
  timeout: 504,
};

export interface ErrorPayload {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

export function errorPayload(code: string, message: string, details?: Record<string, unknown>): ErrorPayload {
  return { error: { code, message, ...(details ? { details } : {}) } };
}

const DEPENDENCY_NAMES: Record<DependencyUnavailableError['dependency'], string> = {
  temporal: 'Temporal',
  postgresql: 'PostgreSQL',
  aws: 'AWS',
  configuration: 'The configuration',
};

/** A caller's value in a message, without echoing kilobytes back. */
function shorten(text: string, max = 100): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

const FRAMEWORK_CODES: Record<number, string> = {
  400: 'invalid_request',
  404: 'route_not_found',
  405: 'method_not_allowed',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
};

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | SolarIotError | Error, request, reply) => {
    if (error instanceof SolarIotError) {
      const status = STATUS_OF_KIND[error.kind];
      if (status >= 500) request.log.error({ err: error }, 'request failed');
      // Addresses and driver errors are for the operator: the log has them, and callers with the
      // token see them; anyone else learns only which dependency is down.
      const message =
        error instanceof DependencyUnavailableError &&
        error.code === 'dependency_unavailable' &&
        !request.authenticated
          ? `${DEPENDENCY_NAMES[error.dependency]} is unavailable; the server log has the details (request ${request.id})`
          : error.message;
      return reply.code(status).send(errorPayload(error.code, message, error.details));
    }
    const statusCode = (error as FastifyError).statusCode;
    if (statusCode !== undefined && statusCode >= 400 && statusCode < 500) {
      // fastify's own refusals: malformed JSON, wrong content type, body too large...
      const message =
        statusCode === 413
          ? `The request body is larger than ${MAX_BODY_BYTES} bytes, the most this API accepts`
          : error.message;
      return reply
        .code(statusCode)
        .send(errorPayload(FRAMEWORK_CODES[statusCode] ?? 'invalid_request', message));
    }
    request.log.error({ err: error }, 'unexpected error');
    return reply
      .code(500)
      .send(
        errorPayload(
          'internal_error',
          `Unexpected error; the server log has the details (request ${request.id})`,
        ),
      );
  });

  app.setNotFoundHandler((request, reply) => {
    reply
      .code(404)
      .send(
        errorPayload(
          'route_not_found',
          `No route ${request.method} ${shorten(request.url.split('?')[0] ?? '')}; see GET /openapi.json`,
        ),
      );
  });
}
