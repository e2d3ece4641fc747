import type { FastifyInstance } from 'fastify';
import { NotFoundError } from '../../service/errors.js';
import type { Readiness, ReadinessCheck, SolarIot } from '../../service/solar-iot.js';
import { BACKFILL_WORKFLOW_ID } from '../../workflows/backfill-contract.js';
import type { OpenApiDocument } from '../openapi.js';
import type { RouteTable } from '../route.js';
import {
  BackfillBody,
  BackfillProgressSchema,
  BackfillQuery,
  BackfillStartedSchema,
  HealthSchema,
  OpenApiDocumentSchema,
  ReadinessSchema,
} from '../schemas.js';

/**
 * Readiness for a caller without the token: which dependency is down, not its address or the
 * driver's error (a probe needs no more; the log and callers with the token get the detail).
 */
function withoutDetail(readiness: Readiness): Readiness {
  const redact = (check: ReadinessCheck): ReadinessCheck => ({
    ...check,
    detail: check.ok ? (check.detail.startsWith('not used') ? 'not used' : 'reachable') : 'unreachable',
  });
  const { temporal, postgresql, aws, deadLetters } = readiness.checks;
  return {
    ...readiness,
    checks: {
      temporal: redact(temporal),
      postgresql: redact(postgresql),
      aws: redact(aws),
      deadLetters: redact(deadLetters),
    },
  };
}

/** Health, readiness, backfill and the API's own description. */
export function operationRoutes(
  app: FastifyInstance,
  table: RouteTable,
  solarIot: SolarIot,
  document: () => OpenApiDocument,
): void {
  const startedAt = Date.now();

  table.add(app, {
    method: 'GET',
    url: '/healthz',
    operationId: 'health',
    summary: 'The process is up (no dependency is checked)',
    tag: 'operations',
    public: true,
    status: 200,
    response: HealthSchema,
    errors: [],
    handler: async () => ({
      status: 'ok' as const,
      iotMode: solarIot.iotMode,
      uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
    }),
  });

  table.add(app, {
    method: 'GET',
    url: '/readyz',
    operationId: 'readiness',
    summary: 'Temporal, PostgreSQL and AWS reachable (503 with the failing checks otherwise)',
    description:
      'Without the API token each check says only reachable / unreachable / not used; with it, where and why (the server log always has the detail), and how many failed rule deliveries wait in the dead-letter queue (deadLetters, not required).',
    tag: 'operations',
    public: true,
    status: 200,
    response: ReadinessSchema,
    otherResponses: { 503: ReadinessSchema },
    errors: [],
    handler: async (_input, request, reply) => {
      const readiness = await solarIot.checkReadiness();
      reply.code(readiness.ready ? 200 : 503);
      if (!readiness.ready) request.log.warn({ readiness }, 'not ready');
      return request.authenticated ? readiness : withoutDetail(readiness);
    },
  });

  table.add(app, {
    method: 'POST',
    url: '/backfill',
    operationId: 'startBackfill',
    summary: 'Provision every plant without IoT resources (disabled, pending, failed)',
    description:
      'Starts the backfillPlants workflow, or attaches to the one running. Follow it with GET /backfill.',
    tag: 'operations',
    body: BackfillBody,
    status: 202,
    response: BackfillStartedSchema,
    errors: [409, 503],
    handler: async ({ body }) => ({ iotMode: solarIot.iotMode, ...(await solarIot.startBackfill(body)) }),
  });

  table.add(app, {
    method: 'GET',
    url: '/backfill',
    operationId: 'getBackfill',
    summary: 'Progress of the latest backfill: done, failed (with reasons), skipped, remaining',
    tag: 'operations',
    query: BackfillQuery,
    status: 200,
    response: BackfillProgressSchema,
    errors: [404, 503],
    handler: async ({ query }) => {
      const progress = await solarIot.getBackfillProgress(query.workflowId ?? BACKFILL_WORKFLOW_ID);
      if (!progress)
        throw new NotFoundError(
          'backfill_not_found',
          'No backfill has run yet; start one with POST /backfill',
        );
      return progress;
    },
  });

  table.add(app, {
    method: 'GET',
    url: '/openapi.json',
    operationId: 'openapi',
    summary: "This API's OpenAPI 3.1 document",
    tag: 'operations',
    public: true,
    status: 200,
    response: OpenApiDocumentSchema,
    errors: [],
    handler: async () => document() as unknown as Record<string, unknown>,
  });
}
