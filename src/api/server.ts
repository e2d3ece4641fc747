/**
 * The HTTP API: a fastify app built from injected dependencies, so tests and `main.ts` wire it
 * the same way. Routes are grouped per resource in ./routes; each is described by one RouteSpec.
 */
import { readFileSync } from 'node:fs';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify';
import type { Logger } from '../logging/index.js';
import type { SolarIot } from '../service/solar-iot.js';
import type { Tracing } from '../tracing/index.js';
import { installAuth } from './auth.js';
import { installBrowserGuard } from './browser-guard.js';
import { errorPayload, installErrorHandling, MAX_BODY_BYTES } from './errors.js';
import type { ApiMetrics } from './metrics.js';
import { buildOpenApiDocument, type OpenApiDocument } from './openapi.js';
import { RouteTable } from './route.js';
import { certificateRoutes } from './routes/certificates.js';
import { deviceCsrRoutes } from './routes/device-csr.js';
import { deviceRoutes } from './routes/devices.js';
import { operationRoutes } from './routes/operations.js';
import { plantRoutes } from './routes/plants.js';
import { quarantineRoutes } from './routes/quarantine.js';
import { telemetryRoutes } from './routes/telemetry.js';
import type { ApiSettings } from './settings.js';

export interface ServerDeps {
  solarIot: SolarIot;
  /** allowedHosts: API_ALLOWED_HOSTS; host: API_HOST (a specific address is a name served too). */
  settings: Pick<ApiSettings, 'token'> & Partial<Pick<ApiSettings, 'allowedHosts' | 'host'>>;
  /** Request logs; none when absent (tests). */
  logger?: Logger;
  /** Request counts and latencies; none when absent. */
  metrics?: ApiMetrics;
  /** A span per request (OTEL_EXPORTER_OTLP_ENDPOINT); none when absent. */
  tracing?: Tracing['http'] | undefined;
}

export interface ApiServer {
  app: FastifyInstance;
  /** Every route with its schemas, as documented. */
  routes: RouteTable['routes'];
  /** Every route fastify registered (HEAD twins of GET routes excluded), documented or not. */
  registered: { method: string; url: string }[];
  openapi: () => OpenApiDocument;
}

const VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** The CLI and proxies send ids in paths; nothing else needs more. */
const MAX_PARAM_LENGTH = 200;

export function buildServer(deps: ServerDeps): ApiServer {
  const app: FastifyInstance = Fastify({
    // pino's Logger is a FastifyBaseLogger; the cast only widens fastify's inferred generics.
    ...(deps.logger ? { loggerInstance: deps.logger as FastifyBaseLogger } : { logger: false }),
    bodyLimit: MAX_BODY_BYTES,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // A path that does not decode (`/plants/%ff`), a parameter longer than maxParamLength:
    // fastify's own body would echo it in another shape.
    frameworkErrors: (error, request, reply) => {
      // fastify types this reply with the schema generics of no route in particular.
      const answer = reply as FastifyReply;
      deps.metrics?.countUnrouted(request, answer);
      if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
        answer
          .code(414)
          .send(
            errorPayload('invalid_request', `A path parameter is longer than ${MAX_PARAM_LENGTH} characters`),
          );
        return;
      }
      answer
        .code(400)
        .send(
          errorPayload(
            'invalid_request',
            error.code === 'FST_ERR_BAD_URL'
              ? 'The request path is not valid percent-encoded UTF-8'
              : 'The request could not be routed',
          ),
        );
    },
  });
  // First: its onRequest hook notes the arrival before any other hook runs, and its onRoute hook
  // must see every route. A caller's trace context counts only with the token: anyone else could
  // otherwise put spans (401s) into the trace of an operator's request.
  deps.tracing?.install(app, { honoursTraceContext: (request) => request.authenticated });
  const registered: ApiServer['registered'] = [];
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat())
      if (method !== 'HEAD') registered.push({ method, url: route.url });
  });
  installErrorHandling(app);
  deps.metrics?.install(app);
  // Browser checks first: a cross-site page gets 403 whether or not it guessed a token.
  installBrowserGuard(app, {
    allowedHosts: deps.settings.allowedHosts ?? [],
    listenHost: deps.settings.host,
  });
  installAuth(app, deps.settings.token);

  const table = new RouteTable();
  let document: OpenApiDocument | undefined;
  const openapi = () => {
    document ??= buildOpenApiDocument(table.routes, VERSION);
    return document;
  };
  plantRoutes(app, table, deps.solarIot);
  deviceCsrRoutes(app, table, deps.solarIot);
  deviceRoutes(app, table, deps.solarIot);
  telemetryRoutes(app, table, deps.solarIot);
  quarantineRoutes(app, table, deps.solarIot);
  certificateRoutes(app, table, deps.solarIot);
  operationRoutes(app, table, deps.solarIot, openapi);
  return { app, routes: table.routes, registered, openapi };
}
