import type { FastifyInstance } from 'fastify';
import type { SolarIot } from '../../service/solar-iot.js';
import {
  QuarantineMessagesQuery,
  QuarantinePageSchema,
  QuarantineReplayBody,
  QuarantineReplaySchema,
  QuarantineSummarySchema,
} from '../quarantine-schemas.js';
import type { RouteTable } from '../route.js';

/** The messages the ingest consumer quarantined: counted, paged, and replayed after a fix. */
export function quarantineRoutes(app: FastifyInstance, table: RouteTable, solarIot: SolarIot): void {
  table.add(app, {
    method: 'GET',
    url: '/telemetry/quarantine',
    operationId: 'getQuarantineSummary',
    summary: 'Messages the ingest consumer quarantined, counted by reason with the oldest and newest',
    tag: 'telemetry',
    status: 200,
    response: QuarantineSummarySchema,
    errors: [503],
    handler: () => solarIot.getQuarantineSummary(),
  });

  table.add(app, {
    method: 'GET',
    url: '/telemetry/quarantine/messages',
    operationId: 'listQuarantinedMessages',
    summary: 'A page of quarantined messages in id order, with their bodies as stored',
    description:
      'An oversized body was stored as its first bytes only (truncated: true: it cannot be replayed). Follow nextCursor for the next page.',
    tag: 'telemetry',
    query: QuarantineMessagesQuery,
    status: 200,
    response: QuarantinePageSchema,
    errors: [503],
    handler: ({ query }) => solarIot.listQuarantinedMessages(query),
  });

  table.add(app, {
    method: 'POST',
    url: '/telemetry/quarantine/replay',
    operationId: 'replayQuarantined',
    summary: "Runs quarantined messages through today's validation again; stores and removes those now valid",
    description:
      "Give ids, or a reason (with limit and cursor to go through its messages a call at a time). Validation is the consumer's, with this process' INGEST_MAX_BODY_BYTES and INGEST_MAX_FUTURE_SECONDS (give the API the consumer's values); a valid message is written through the consumer's write path and its quarantine row deleted in the same transaction.",
    tag: 'telemetry',
    body: QuarantineReplayBody,
    status: 200,
    response: QuarantineReplaySchema,
    errors: [503],
    handler: ({ body }) => solarIot.replayQuarantined(body),
  });
}
