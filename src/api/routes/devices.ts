import type { FastifyInstance } from 'fastify';
import { MAX_SHADOW_STATE_DEPTH } from '../../service/shadows.js';
import type { SolarIot } from '../../service/solar-iot.js';
import type { RouteTable } from '../route.js';
import {
  CommandBody,
  CommandOutcomeSchema,
  PatchShadowBody,
  PlantParams,
  ShadowQuery,
  ShadowSchema,
} from '../schemas.js';

/** What reaches the plant's devices: thing shadows and commands. */
export function deviceRoutes(app: FastifyInstance, table: RouteTable, solarIot: SolarIot): void {
  table.add(app, {
    method: 'GET',
    url: '/plants/:id/shadow',
    operationId: 'getShadow',
    summary: "The plant's thing shadow (classic, or named with ?name=)",
    tag: 'devices',
    params: PlantParams,
    query: ShadowQuery,
    status: 200,
    response: ShadowSchema,
    errors: [404, 409, 503],
    handler: ({ params, query }) => solarIot.getThingShadow(params.id, { shadowName: query.name }),
  });

  table.add(app, {
    method: 'PATCH',
    url: '/plants/:id/shadow',
    operationId: 'updateShadow',
    summary: "Merge a desired state into the plant's thing shadow",
    description:
      'With `version`, applied only if the shadow is still at that version; 409 version_conflict otherwise.',
    tag: 'devices',
    params: PlantParams,
    query: ShadowQuery,
    body: PatchShadowBody,
    // The body is {"desired": <state>}: one level above the state AWS limits.
    bodyDepth: {
      max: MAX_SHADOW_STATE_DEPTH + 1,
      reason: `AWS IoT accepts at most ${MAX_SHADOW_STATE_DEPTH} levels in a shadow's desired or reported state`,
    },
    status: 200,
    response: ShadowSchema,
    errors: [404, 409, 503],
    handler: ({ params, query, body }) =>
      solarIot.updateThingShadow(params.id, body.desired, { shadowName: query.name, version: body.version }),
  });

  table.add(app, {
    method: 'POST',
    url: '/plants/:id/commands',
    operationId: 'sendCommand',
    summary: "Publish a command to the plant's devices on solar/{plantId}/commands/{command}",
    tag: 'devices',
    params: PlantParams,
    body: CommandBody,
    status: 202,
    response: CommandOutcomeSchema,
    errors: [404, 409, 503],
    handler: ({ params, body }) =>
      solarIot.publishCommand(
        params.id,
        body.command,
        body.params ?? {},
        body.qos === undefined ? {} : { qos: body.qos },
      ),
  });
}
