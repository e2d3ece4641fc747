import type { FastifyInstance } from 'fastify';
import { ConflictError } from '../../service/errors.js';
import type { SolarIot } from '../../service/solar-iot.js';
import type { RouteTable } from '../route.js';
import {
  CreatePlantBody,
  DeprovisionOutcomeSchema,
  ListPlantsQuery,
  PlantPageSchema,
  PlantParams,
  PlantStatusSchema,
  ProvisionBody,
  ProvisionOutcomeSchema,
} from '../schemas.js';

export function plantRoutes(app: FastifyInstance, table: RouteTable, solarIot: SolarIot): void {
  table.add(app, {
    method: 'POST',
    url: '/plants',
    operationId: 'createPlant',
    summary: 'Create a plant and start provisioning its AWS IoT identity',
    description:
      'Answers once the plant is recorded and its provisioning workflow started. With IoT disabled the plant is recorded with iotStatus "disabled" and nothing is started. With certificateMode device-csr the provision waits for the device\'s CSR (POST /plants/{id}/csr) once the thing exists.',
    tag: 'plants',
    body: CreatePlantBody,
    status: 202,
    response: PlantStatusSchema,
    errors: [409, 503],
    handler: ({ body }) => solarIot.createPlant(body),
  });

  table.add(app, {
    method: 'GET',
    url: '/plants',
    operationId: 'listPlants',
    summary: 'List plants in id order, a page at a time, optionally by IoT status',
    tag: 'plants',
    query: ListPlantsQuery,
    status: 200,
    response: PlantPageSchema,
    errors: [503],
    handler: ({ query }) => solarIot.listPlants(query),
  });

  table.add(app, {
    method: 'GET',
    url: '/plants/:id',
    operationId: 'getPlant',
    summary: "A plant: IoT status, resource ids, last error and the running operation's step",
    tag: 'plants',
    params: PlantParams,
    status: 200,
    response: PlantStatusSchema,
    errors: [404, 503],
    handler: ({ params }) => solarIot.getPlantIoTStatus(params.id),
  });

  table.add(app, {
    method: 'DELETE',
    url: '/plants/:id',
    operationId: 'deletePlant',
    summary: 'Start deprovisioning the plant (its record stays, with iotStatus "deprovisioned")',
    description: 'A provision still running is cancelled and rolled back first.',
    tag: 'plants',
    params: PlantParams,
    status: 202,
    response: DeprovisionOutcomeSchema,
    errors: [404, 409, 503],
    handler: ({ params }) => solarIot.deprovisionPlantIoT(params.id),
  });

  table.add(app, {
    method: 'POST',
    url: '/plants/:id/provision',
    operationId: 'provisionPlant',
    summary: 'Start provisioning an existing plant again (e.g. after a failure)',
    tag: 'plants',
    params: PlantParams,
    body: ProvisionBody,
    status: 202,
    response: ProvisionOutcomeSchema,
    errors: [404, 409, 503],
    handler: async ({ params, body }) => {
      await solarIot.getPlantIoTStatus(params.id);
      if (!solarIot.isAwsIotEnabled())
        throw new ConflictError(
          'iot_disabled',
          `Cannot provision: AWS IoT is disabled (${solarIot.degradedReason})`,
        );
      return solarIot.provisionPlantIoT(params.id, undefined, body);
    },
  });
}
