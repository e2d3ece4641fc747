import type { FastifyInstance } from 'fastify';
import type { SolarIot } from '../../service/solar-iot.js';
import type { RouteTable } from '../route.js';
import { PlantParams } from '../schemas.js';
import {
  DeadLetterDepthSchema,
  LatestTelemetrySchema,
  TelemetryQuery,
  TelemetrySchema,
} from '../telemetry-schemas.js';

/** The plant's readings, read back from processed_data; the deliveries the telemetry rules failed. */
export function telemetryRoutes(app: FastifyInstance, table: RouteTable, solarIot: SolarIot): void {
  table.add(app, {
    method: 'GET',
    url: '/plants/:id/telemetry',
    operationId: 'getTelemetry',
    summary: "The plant's readings in time buckets: avg, min, max, last and count per device and metric",
    description:
      '400 names the limit a request breaks: time_range_too_long, too_many_buckets, too_many_points, invalid_time_range.',
    tag: 'telemetry',
    params: PlantParams,
    query: TelemetryQuery,
    status: 200,
    response: TelemetrySchema,
    errors: [404, 503],
    handler: ({ params, query }) => solarIot.getTelemetry(params.id, query),
  });

  table.add(app, {
    method: 'GET',
    url: '/plants/:id/telemetry/latest',
    operationId: 'getLatestTelemetry',
    summary: 'The latest value of every metric of every device of the plant',
    description:
      'Devices as the ingest recorded them (device_last_reading), each metric it reported within 24 hours before its last reading.',
    tag: 'telemetry',
    params: PlantParams,
    status: 200,
    response: LatestTelemetrySchema,
    errors: [404, 503],
    handler: ({ params }) => solarIot.getLatestTelemetry(params.id),
  });

  table.add(app, {
    method: 'GET',
    url: '/telemetry/dead-letters',
    operationId: 'getDeadLetters',
    summary: 'How many deliveries the telemetry rules could not make wait in their dead-letter queue',
    description:
      'The rules\' error action sends each failed delivery (queue deleted, role wrong) to AWS_SQS_DEAD_LETTER_QUEUE_URL; README "Failed rule deliveries" says what to do with them. 503 not_configured when the queue does not exist; 409 without AWS IoT (mock or disabled).',
    tag: 'telemetry',
    status: 200,
    response: DeadLetterDepthSchema,
    errors: [409, 503],
    handler: () => solarIot.getDeadLetters(),
  });
}
