import type { FastifyInstance } from 'fastify';
import { NotFoundError } from '../../service/errors.js';
import type { SolarIot } from '../../service/solar-iot.js';
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
    tag: 'operations',
    public: true,
    status: 200,
    response: ReadinessSchema,
    otherResponses: { 503: ReadinessSchema },
    errors: [],
    handler: async (_input, _request, reply) => {
      const readiness = await solarIot.checkReadiness();
      reply.code(readiness.ready ? 200 : 503);
      return readiness;
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
