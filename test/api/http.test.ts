/**
 * The HTTP API on a real listening server over the real stack (Temporal dev server with a
 * worker, moto, PostgreSQL). Every response is checked against the served OpenAPI document,
 * and the last test checks that every route is documented and every documented status of every
 * route (but 500) was seen. Dependencies are taken down by pointing a second instance at a
 * closed port: Temporal, PostgreSQL or AWS unreachable, and IoT disabled.
 */
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { CreateQueueCommand } from '@aws-sdk/client-sqs';
import { Client, Connection } from '@temporalio/client';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { inArray } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OpenApiDocument } from '../../src/api/openapi.js';
import { buildServer } from '../../src/api/server.js';
import { loadConfig } from '../../src/config/index.js';
import { createDb } from '../../src/db/client.js';
import { plants } from '../../src/db/schema.js';
import { createAwsClients } from '../../src/iot/clients.js';
import { thingNameFor } from '../../src/iot/naming.js';
import type { PlantPage } from '../../src/service/plants.js';
import { createSolarIot, type PlantStatus, type SolarIot } from '../../src/service/solar-iot.js';
import type { BackfillProgress } from '../../src/workflows/backfill-contract.js';
import { provisionWorkflowId } from '../../src/workflows/contract.js';
import { freePort } from '../../tools/stack/processes.js';
import { deviceCsr } from '../support/device-csr.js';
import { TestStack } from '../support/product-stack.js';

const TOKEN = 'http-test-token-0123456789';

let stack: TestStack;
let doc: OpenApiDocument;
let holdDeprovisionOf = '';
let releaseDeprovision: () => void = () => undefined;
const closers: (() => Promise<void>)[] = [];
const registered: { method: string; url: string }[] = [];
/** operationId -> statuses seen. */
const observed = new Map<string, Set<number>>();
const ajv = new Ajv2020({ strict: false, allErrors: true });
const validators = new Map<string, ValidateFunction>();

interface Server {
  base: string;
}
const server: Record<'main' | 'temporalDown' | 'pgDown' | 'awsDown' | 'disabled' | 'noWorker', Server> =
  {} as never;

async function serve(solarIot: SolarIot): Promise<Server> {
  const api = buildServer({ solarIot, settings: { token: TOKEN } });
  await api.app.listen({ port: 0, host: '127.0.0.1' });
  closers.push(() => api.app.close());
  doc ??= api.openapi();
  if (registered.length === 0) registered.push(...api.registered);
  return { base: `http://127.0.0.1:${(api.app.server.address() as AddressInfo).port}` };
}

function operationFor(method: string, pathname: string) {
  for (const [template, operations] of Object.entries(doc.paths)) {
    const pattern = new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`);
    const operation = operations[method.toLowerCase()] as
      | {
          operationId: string;
          responses: Record<string, { content: { 'application/json': { schema: object } } }>;
        }
      | undefined;
    if (pattern.test(pathname) && operation) return operation;
  }
  return undefined;
}

interface CallOptions {
  body?: unknown;
  raw?: string;
  /** null: no Authorization header. */
  token?: string | null;
}

/** One request; the answer must be a documented status whose body matches the document. */
async function call<T = Record<string, unknown>>(
  target: Server,
  method: string,
  path: string,
  options: CallOptions = {},
): Promise<{ status: number; body: T }> {
  const token = options.token === undefined ? TOKEN : options.token;
  const hasBody = options.raw !== undefined || options.body !== undefined;
  const res = await fetch(target.base + path, {
    method,
    headers: {
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
      ...(hasBody ? { 'content-type': 'application/json' } : {}),
    },
    ...(hasBody ? { body: options.raw ?? JSON.stringify(options.body) } : {}),
  });
  const body = (await res.json()) as T;
  const operation = operationFor(method, new URL(target.base + path).pathname);
  if (operation) {
    const documented = operation.responses[String(res.status)];
    expect(
      documented,
      `${method} ${path} answered ${res.status}, which the document does not list`,
    ).toBeDefined();
    const key = `${operation.operationId}:${res.status}`;
    let validate = validators.get(key);
    if (!validate) {
      validate = ajv.compile({
        ...documented?.content['application/json'].schema,
        components: doc.components,
      });
      validators.set(key, validate);
    }
    expect(
      validate(body),
      `${method} ${path} ${res.status}: ${JSON.stringify(validate.errors)}\n${JSON.stringify(body)}`,
    ).toBe(true);
    const seen = observed.get(operation.operationId) ?? new Set<number>();
    seen.add(res.status);
    observed.set(operation.operationId, seen);
  }
  return { status: res.status, body };
}

async function errorOf(target: Server, method: string, path: string, options?: CallOptions) {
  const { status, body } = await call<{
    error: { code: string; message: string; details?: Record<string, unknown> };
  }>(target, method, path, options);
  return { status, ...body.error };
}

async function activePlant(name = 'HTTP plant'): Promise<string> {
  const { body } = await call<PlantStatus>(server.main, 'POST', '/plants', { body: { name } });
  const id = body.plant.id;
  await stack.until(async () => (await stack.plantRow(id))?.iotStatus === 'active');
  return id;
}

async function failedPlant(): Promise<string> {
  const id = `failed-${randomUUID()}`;
  await stack.database.db
    .insert(plants)
    .values({ id, name: 'failed before', iotStatus: 'failed', lastError: 'earlier' });
  return id;
}

beforeAll(async () => {
  stack = await TestStack.start({
    mode: 'aws',
    overrides: {
      async listThingPrincipals(input) {
        if (holdDeprovisionOf && input.thingName === thingNameFor(holdDeprovisionOf)) {
          await new Promise<void>((resolve) => {
            releaseDeprovision = resolve;
          });
        }
        return stack.realActivities().listThingPrincipals(input);
      },
    },
  });
  const closedPort = await freePort();
  const { config } = stack;
  server.main = await serve(stack.solarIot);

  const deadConnection = Connection.lazy({ address: `127.0.0.1:${closedPort}`, connectTimeout: '1s' });
  closers.push(() => deadConnection.close());
  server.temporalDown = await serve(
    createSolarIot({
      config,
      temporal: new Client({ connection: deadConnection }),
      db: stack.database.db,
      aws: stack.aws,
      rpcTimeoutMs: 1_500,
      readinessTimeoutMs: 1_500,
    }),
  );

  const deadDb = createDb(`postgres://nobody:nothing@127.0.0.1:${closedPort}/none`);
  closers.push(() => deadDb.close());
  server.pgDown = await serve(
    createSolarIot({ config, temporal: stack.temporal, db: deadDb.db, aws: stack.aws }),
  );

  const awsDownConfig = loadConfig({ ...stack.env, AWS_ENDPOINT_URL: `http://127.0.0.1:${closedPort}` });
  const deadAws = createAwsClients(awsDownConfig);
  closers.push(async () => deadAws.destroy());
  server.awsDown = await serve(
    createSolarIot({ config: awsDownConfig, temporal: stack.temporal, db: stack.database.db, aws: deadAws }),
  );

  server.disabled = await serve(
    createSolarIot({
      config: loadConfig({ ...stack.env, USE_AWS_IOT: 'false' }),
      temporal: stack.temporal,
      db: stack.database.db,
    }),
  );

  // Provisions on a task queue no worker polls: a CSR is never taken (504 after 1 s).
  server.noWorker = await serve(
    createSolarIot({
      config,
      temporal: stack.temporal,
      db: stack.database.db,
      aws: stack.aws,
      taskQueue: `${stack.taskQueue}-no-worker`,
      csrAnswerTimeoutMs: 1_000,
    }),
  );
});

afterAll(async () => {
  releaseDeprovision();
  for (const close of closers.reverse()) await close().catch(() => undefined);
  await stack?.close();
});

describe('operations routes', () => {
  it('serves health, readiness and the document without a token', async () => {
    expect(await call(server.main, 'GET', '/healthz', { token: null })).toMatchObject({
      status: 200,
      body: { status: 'ok', iotMode: 'aws' },
    });
    const ready = await call<{ ready: boolean }>(server.main, 'GET', '/readyz', { token: null });
    expect(ready).toMatchObject({ status: 200, body: { ready: true } });
    const openapi = await call<OpenApiDocument>(server.main, 'GET', '/openapi.json', { token: null });
    expect(openapi.status).toBe(200);
    expect(openapi.body.openapi).toBe('3.1.0');
    expect(Object.keys(openapi.body.paths)).toContain('/plants/{id}/shadow');
  });

  it('answers 503 from /readyz naming the dependency that is down', async () => {
    const checks = async (target: Server) =>
      (
        await call<{ ready: boolean; checks: Record<string, { ok: boolean; detail: string }> }>(
          target,
          'GET',
          '/readyz',
        )
      ).body;
    const pg = await checks(server.pgDown);
    expect(pg.ready).toBe(false);
    expect(pg.checks).toMatchObject({ postgresql: { ok: false }, temporal: { ok: true }, aws: { ok: true } });
    const temporal = await checks(server.temporalDown);
    expect(temporal.ready).toBe(false);
    expect(temporal.checks).toMatchObject({ temporal: { ok: false }, postgresql: { ok: true } });
    const aws = await checks(server.awsDown);
    expect(aws.ready).toBe(false);
    expect(aws.checks.aws?.ok).toBe(false);
    // IoT disabled: AWS is not needed, so the service is ready.
    const disabled = await checks(server.disabled);
    expect(disabled.ready).toBe(true);
    expect(disabled.checks.aws?.detail).toMatch(/not used/);
  });

  it('requires the API token on every other documented route', async () => {
    for (const [template, operations] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        if ((operation as { security: unknown[] }).security.length === 0) continue;
        const path = template.replace('{id}', randomUUID());
        const missing = await errorOf(server.main, method.toUpperCase(), path, { token: null });
        expect(missing, `${method} ${template}`).toMatchObject({ status: 401, code: 'unauthorized' });
        const wrong = await errorOf(server.main, method.toUpperCase(), path, {
          token: 'not-the-token-at-all',
        });
        expect(wrong, `${method} ${template}`).toMatchObject({ status: 401, code: 'unauthorized' });
      }
    }
  });

  it('answers unknown routes with a JSON 404', async () => {
    expect(await errorOf(server.main, 'GET', '/nothing-here')).toMatchObject({
      status: 404,
      code: 'route_not_found',
    });
  });
});

describe('plants', () => {
  it('POST /plants records the plant and starts provisioning; GET /plants/:id follows it to active', async () => {
    const created = await call<PlantStatus>(server.main, 'POST', '/plants', {
      body: { name: 'Rooftop Porto' },
    });
    expect(created.status).toBe(202);
    expect(created.body.plant).toMatchObject({
      name: 'Rooftop Porto',
      iotStatus: 'pending',
      thingName: null,
    });
    expect(created.body.operation).toMatchObject({ kind: 'provision' });
    const id = created.body.plant.id;
    const active = await stack.until(async () => {
      const { body } = await call<PlantStatus>(server.main, 'GET', `/plants/${id}`);
      // The row turns active in the last step, a workflow task before the run completes.
      return body.plant.iotStatus === 'active' && body.operation?.state === 'completed' ? body : undefined;
    });
    expect(active.plant.thingName).toBe(thingNameFor(id));
    expect(active.operation).toMatchObject({ kind: 'provision', state: 'completed' });

    const own = `own-${randomUUID()}`;
    expect(
      (await call<PlantStatus>(server.main, 'POST', '/plants', { body: { name: 'Own id', id: own } })).body
        .plant.id,
    ).toBe(own);
    expect(await errorOf(server.main, 'POST', '/plants', { body: { name: 'Again', id: own } })).toMatchObject(
      {
        status: 409,
        code: 'plant_exists',
      },
    );
    // Settled before the next test lists active plants.
    await stack.until(async () => (await stack.plantRow(own))?.iotStatus === 'active');
  });

  it('POST /plants refuses invalid bodies', async () => {
    expect(await errorOf(server.main, 'POST', '/plants', { body: {} })).toMatchObject({
      status: 400,
      code: 'invalid_input',
    });
    expect((await errorOf(server.main, 'POST', '/plants', { body: {} })).message).toMatch(/body\.name/);
    expect(
      await errorOf(server.main, 'POST', '/plants', { body: { name: 'x', colour: 'red' } }),
    ).toMatchObject({ status: 400 });
    expect(await errorOf(server.main, 'POST', '/plants', { body: { name: 'x', id: 'a/b' } })).toMatchObject({
      status: 400,
    });
    expect(await errorOf(server.main, 'POST', '/plants', { raw: '{"name":' })).toMatchObject({
      status: 400,
      code: 'invalid_request',
    });
  });

  it('POST /plants with Temporal down: 503 naming the plant that was recorded as pending', async () => {
    const answer = await errorOf(server.temporalDown, 'POST', '/plants', {
      body: { name: 'While Temporal is down' },
    });
    expect(answer).toMatchObject({ status: 503, code: 'dependency_unavailable' });
    const plantId = String(answer.details?.plantId);
    expect(answer.message).toContain(plantId);
    expect((await stack.plantRow(plantId))?.iotStatus).toBe('pending');
  });

  it('GET /plants pages in id order and filters by IoT status', async () => {
    await activePlant('Page A');
    await activePlant('Page B');
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = `?iotStatus=active&limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const page: { status: number; body: PlantPage } = await call<PlantPage>(
        server.main,
        'GET',
        `/plants${query}`,
      );
      expect(page.status).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(2);
      for (const p of page.body.items) expect(p.iotStatus).toBe('active');
      seen.push(...page.body.items.map((p) => p.id));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(seen.length).toBeGreaterThanOrEqual(2);
    expect([...seen].sort()).toEqual(seen);
    expect(new Set(seen).size).toBe(seen.length);
    const all = await stack.database.db
      .select({ id: plants.id })
      .from(plants)
      .where(inArray(plants.iotStatus, ['active']));
    expect(seen.sort()).toEqual(all.map((r) => r.id).sort());

    for (const bad of ['?limit=0', '?limit=9999', '?iotStatus=sleepy', '?colour=red']) {
      expect(await errorOf(server.main, 'GET', `/plants${bad}`), bad).toMatchObject({
        status: 400,
        code: 'invalid_input',
      });
    }
    expect(await errorOf(server.pgDown, 'GET', '/plants')).toMatchObject({
      status: 503,
      code: 'dependency_unavailable',
    });
  });

  it('GET /plants/:id: 404 for an unknown plant, 400 for a malformed id, 503 without PostgreSQL', async () => {
    expect(await errorOf(server.main, 'GET', `/plants/${randomUUID()}`)).toMatchObject({
      status: 404,
      code: 'plant_not_found',
    });
    expect(await errorOf(server.main, 'GET', '/plants/bad%20id')).toMatchObject({
      status: 400,
      code: 'invalid_input',
    });
    expect(await errorOf(server.pgDown, 'GET', `/plants/${randomUUID()}`)).toMatchObject({ status: 503 });
  });

  it('DELETE /plants/:id starts deprovisioning and the plant ends deprovisioned', async () => {
    const id = await activePlant('To delete');
    const answer = await call<{ workflowId: string }>(server.main, 'DELETE', `/plants/${id}`);
    expect(answer.status).toBe(202);
    expect(answer.body.workflowId).toBe(`deprovision-plant-${id}`);
    const gone = await stack.until(async () => {
      const { body } = await call<PlantStatus>(server.main, 'GET', `/plants/${id}`);
      return body.plant.iotStatus === 'deprovisioned' ? body : undefined;
    });
    expect(gone.plant.thingName).toBeNull();

    expect(await errorOf(server.main, 'DELETE', `/plants/${randomUUID()}`)).toMatchObject({ status: 404 });
    expect(await errorOf(server.main, 'DELETE', '/plants/bad%20id')).toMatchObject({ status: 400 });
    expect(await errorOf(server.temporalDown, 'DELETE', `/plants/${await activePlant()}`)).toMatchObject({
      status: 503,
    });
  });

  it('DELETE /plants/:id with IoT disabled: 409 while the plant still has AWS resources', async () => {
    const id = await activePlant('Has resources');
    expect(await errorOf(server.disabled, 'DELETE', `/plants/${id}`)).toMatchObject({
      status: 409,
      code: 'iot_disabled',
    });
    expect((await stack.plantRow(id))?.iotStatus).toBe('active');
  });

  it('POST /plants/:id/provision retries a failed plant; 409 while it is being deprovisioned', async () => {
    const id = await failedPlant();
    expect((await call(server.main, 'POST', `/plants/${id}/provision`)).status).toBe(202);
    await stack.until(async () => (await stack.plantRow(id))?.iotStatus === 'active');

    holdDeprovisionOf = id;
    expect((await call(server.main, 'DELETE', `/plants/${id}`)).status).toBe(202);
    await stack.until(
      async () => (await stack.solarIot.getPlantIoTStatus(id)).operation?.currentStep === 'list-principals',
    );
    expect(await errorOf(server.main, 'POST', `/plants/${id}/provision`)).toMatchObject({
      status: 409,
      code: 'operation_conflict',
    });
    releaseDeprovision();
    holdDeprovisionOf = '';
    await stack.until(async () => (await stack.plantRow(id))?.iotStatus === 'deprovisioned');

    expect(await errorOf(server.main, 'POST', `/plants/${randomUUID()}/provision`)).toMatchObject({
      status: 404,
    });
    expect(await errorOf(server.main, 'POST', '/plants/bad%20id/provision')).toMatchObject({ status: 400 });
    expect(await errorOf(server.disabled, 'POST', `/plants/${id}/provision`)).toMatchObject({
      status: 409,
      code: 'iot_disabled',
    });
    expect(await errorOf(server.temporalDown, 'POST', `/plants/${id}/provision`)).toMatchObject({
      status: 503,
    });
  });
});

describe('shadows and commands', () => {
  it('GET/PATCH /plants/:id/shadow round-trip with optimistic locking and named shadows', async () => {
    const id = await activePlant('Shadowed');
    expect(await errorOf(server.main, 'GET', `/plants/${id}/shadow`)).toMatchObject({
      status: 404,
      code: 'shadow_not_found',
    });
    const v1 = await call<{ version: number }>(server.main, 'PATCH', `/plants/${id}/shadow`, {
      body: { desired: { powerLimit: 1000, mode: 'auto' } },
    });
    expect(v1).toMatchObject({ status: 200, body: { version: 1 } });
    expect(
      await call(server.main, 'PATCH', `/plants/${id}/shadow`, {
        body: { desired: { powerLimit: 900 }, version: 1 },
      }),
    ).toMatchObject({ status: 200, body: { version: 2 } });
    expect(
      await errorOf(server.main, 'PATCH', `/plants/${id}/shadow`, {
        body: { desired: { powerLimit: 1 }, version: 1 },
      }),
    ).toMatchObject({ status: 409, code: 'version_conflict' });
    expect(await call(server.main, 'GET', `/plants/${id}/shadow`)).toMatchObject({
      status: 200,
      body: {
        version: 2,
        thingName: thingNameFor(id),
        state: { desired: { powerLimit: 900, mode: 'auto' } },
      },
    });

    await call(server.main, 'PATCH', `/plants/${id}/shadow?name=tracker`, {
      body: { desired: { tilt: 20 } },
    });
    expect(await call(server.main, 'GET', `/plants/${id}/shadow?name=tracker`)).toMatchObject({
      status: 200,
      body: { shadowName: 'tracker', version: 1, state: { desired: { tilt: 20 } } },
    });

    expect(
      await errorOf(server.main, 'PATCH', `/plants/${id}/shadow`, { body: { desired: 5 } }),
    ).toMatchObject({ status: 400 });
    expect(await errorOf(server.main, 'GET', `/plants/${id}/shadow?name=bad!`)).toMatchObject({
      status: 400,
    });
    expect(await errorOf(server.main, 'GET', `/plants/${randomUUID()}/shadow`)).toMatchObject({
      status: 404,
    });
    expect(
      await errorOf(server.main, 'PATCH', `/plants/${randomUUID()}/shadow`, { body: { desired: { a: 1 } } }),
    ).toMatchObject({ status: 404 });
    const failed = await failedPlant();
    expect(await errorOf(server.main, 'GET', `/plants/${failed}/shadow`)).toMatchObject({
      status: 409,
      code: 'not_provisioned',
    });
    expect(
      await errorOf(server.main, 'PATCH', `/plants/${failed}/shadow`, { body: { desired: { a: 1 } } }),
    ).toMatchObject({ status: 409, code: 'not_provisioned' });
    expect(await errorOf(server.awsDown, 'GET', `/plants/${id}/shadow`)).toMatchObject({ status: 503 });
    expect(
      await errorOf(server.awsDown, 'PATCH', `/plants/${id}/shadow`, { body: { desired: { a: 1 } } }),
    ).toMatchObject({ status: 503, code: 'dependency_unavailable' });
  });

  it("POST /plants/:id/commands publishes to the plant's command topic", async () => {
    const id = await activePlant('Commanded');
    expect(
      await call(server.main, 'POST', `/plants/${id}/commands`, {
        body: { command: 'restart', params: { delaySeconds: 5 } },
      }),
    ).toMatchObject({ status: 202, body: { topic: `solar/${id}/commands/restart`, qos: 1 } });
    expect(
      await errorOf(server.main, 'POST', `/plants/${id}/commands`, { body: { command: 'a/b' } }),
    ).toMatchObject({
      status: 400,
    });
    expect(
      await errorOf(server.main, 'POST', `/plants/${id}/commands`, { body: { command: 'x', qos: 2 } }),
    ).toMatchObject({
      status: 400,
    });
    expect(
      await errorOf(server.main, 'POST', `/plants/${randomUUID()}/commands`, {
        body: { command: 'restart' },
      }),
    ).toMatchObject({ status: 404 });
    expect(
      await errorOf(server.main, 'POST', `/plants/${await failedPlant()}/commands`, {
        body: { command: 'restart' },
      }),
    ).toMatchObject({ status: 409, code: 'not_provisioned' });
    expect(
      await errorOf(server.awsDown, 'POST', `/plants/${id}/commands`, { body: { command: 'restart' } }),
    ).toMatchObject({
      status: 503,
    });
  });
});

describe('backfill', () => {
  it('POST /backfill provisions plants without IoT; GET /backfill reports it', async () => {
    // Files run one at a time: earlier leftovers must not join this run.
    await stack.database.db
      .delete(plants)
      .where(inArray(plants.iotStatus, ['disabled', 'pending', 'failed']));
    const waiting = `waiting-${randomUUID()}`;
    await stack.database.db.insert(plants).values({ id: waiting, name: 'Waiting', iotStatus: 'disabled' });

    const workflowId = `backfill-${randomUUID()}`;
    const started = await call(server.main, 'POST', '/backfill', { body: { workflowId, concurrency: 2 } });
    expect(started).toMatchObject({ status: 202, body: { workflowId } });
    const done = await stack.until(async () => {
      const { status, body } = await call<BackfillProgress>(
        server.main,
        'GET',
        `/backfill?workflowId=${workflowId}`,
      );
      return status === 200 && body.finished ? body : undefined;
    });
    expect(done).toMatchObject({ done: 1, failed: 0, skipped: 0, remaining: 0 });
    expect((await stack.plantRow(waiting))?.iotStatus).toBe('active');

    expect(await errorOf(server.main, 'GET', `/backfill?workflowId=never-${randomUUID()}`)).toMatchObject({
      status: 404,
      code: 'backfill_not_found',
    });
    expect(await errorOf(server.main, 'GET', '/backfill?workflowId=bad%20id')).toMatchObject({ status: 400 });
    expect(await errorOf(server.main, 'POST', '/backfill', { body: { concurrency: 0 } })).toMatchObject({
      status: 400,
    });
    expect(await errorOf(server.disabled, 'POST', '/backfill', { body: {} })).toMatchObject({
      status: 409,
      code: 'iot_disabled',
    });
    expect(await errorOf(server.temporalDown, 'POST', '/backfill', { body: {} })).toMatchObject({
      status: 503,
    });
    expect(await errorOf(server.temporalDown, 'GET', '/backfill')).toMatchObject({ status: 503 });
  });
});

describe('telemetry (values: test/api/telemetry.test.ts)', () => {
  it('GET /plants/:id/telemetry and /telemetry/latest: 200, 400, 404, 503 without PostgreSQL', async () => {
    const id = await failedPlant();
    for (const path of [`/plants/${id}/telemetry?bucket=1h`, `/plants/${id}/telemetry/latest`]) {
      expect((await call(server.main, 'GET', path)).status).toBe(200);
      expect(await errorOf(server.main, 'GET', path.replace(id, randomUUID()))).toMatchObject({
        status: 404,
        code: 'plant_not_found',
      });
      expect(await errorOf(server.pgDown, 'GET', path)).toMatchObject({ status: 503 });
    }
    expect(await errorOf(server.main, 'GET', `/plants/${id}/telemetry?bucket=1s`)).toMatchObject({
      status: 400,
      code: 'too_many_buckets',
    });
    expect(await errorOf(server.main, 'GET', '/plants/bad%20id/telemetry/latest')).toMatchObject({
      status: 400,
    });
  });
});

describe('certificates (values: test/api/certificate-aging.test.ts)', () => {
  it('GET /certificates/aging: 200, 400 for a bad age, 503 without PostgreSQL', async () => {
    const report = await call<{ olderThanDays: number }>(server.main, 'GET', '/certificates/aging');
    expect(report.status).toBe(200);
    expect(report.body.olderThanDays).toBe(365);
    expect(await errorOf(server.main, 'GET', '/certificates/aging?olderThanDays=0')).toMatchObject({
      status: 400,
      code: 'invalid_input',
    });
    expect(await errorOf(server.pgDown, 'GET', '/certificates/aging')).toMatchObject({
      status: 503,
      code: 'dependency_unavailable',
    });
  });
});

describe('dead letters (values: test/api/dead-letters.test.ts)', () => {
  it('GET /telemetry/dead-letters: 200, 409 without AWS IoT, 503 without AWS', async () => {
    const queueName = `${new URL(stack.config.aws.sqsQueueUrl ?? '').pathname.split('/').pop()}-dlq`;
    await stack.aws?.sqs.send(new CreateQueueCommand({ QueueName: queueName }));
    const depth = await call<{ queueUrl: string; messages: number }>(
      server.main,
      'GET',
      '/telemetry/dead-letters',
    );
    expect(depth.status).toBe(200);
    expect(depth.body.queueUrl).toBe(stack.config.aws.deadLetterQueueUrl);
    expect(await errorOf(server.disabled, 'GET', '/telemetry/dead-letters')).toMatchObject({
      status: 409,
      code: 'iot_disabled',
    });
    expect(await errorOf(server.awsDown, 'GET', '/telemetry/dead-letters')).toMatchObject({
      status: 503,
      code: 'dependency_unavailable',
    });
  });
});

describe('quarantine (values: test/api/quarantine.test.ts)', () => {
  it('GET /telemetry/quarantine(/messages), POST /telemetry/quarantine/replay: 200, 400, 503 without PostgreSQL', async () => {
    const summary = await call<{ reasons: unknown[] }>(server.main, 'GET', '/telemetry/quarantine');
    expect(summary.status).toBe(200);
    const { rows } = await stack.database.pool.query<{ id: string }>(
      `INSERT INTO quarantine (message_id, body, reason, body_bytes, body_sha256)
       VALUES ($1, '{"x": ', 'invalid_json: Unexpected end', 6, 'not-checked') RETURNING id::text`,
      [`http-${randomUUID()}`],
    );
    const id = rows[0]?.id ?? '';
    const page = await call<{ items: { id: string }[] }>(
      server.main,
      'GET',
      `/telemetry/quarantine/messages?reason=invalid_json&cursor=${BigInt(id) - 1n}&limit=1`,
    );
    expect(page.status).toBe(200);
    expect(page.body.items.map((m) => m.id)).toEqual([id]);
    const replayed = await call<{ results: { id: string; result: string }[] }>(
      server.main,
      'POST',
      '/telemetry/quarantine/replay',
      { body: { ids: [id] } },
    );
    expect(replayed.status).toBe(200);
    expect(replayed.body.results).toMatchObject([{ id, result: 'still_invalid' }]);
    expect(await errorOf(server.main, 'GET', '/telemetry/quarantine/messages?limit=0')).toMatchObject({
      status: 400,
    });
    expect(
      await errorOf(server.main, 'POST', '/telemetry/quarantine/replay', { body: { ids: ['x'] } }),
    ).toMatchObject({ status: 400 });
    for (const [method, path, body] of [
      ['GET', '/telemetry/quarantine', undefined],
      ['GET', '/telemetry/quarantine/messages', undefined],
      ['POST', '/telemetry/quarantine/replay', { reason: 'invalid_json' }],
    ] as const)
      expect(await errorOf(server.pgDown, method, path, { body }), path).toMatchObject({
        status: 503,
        code: 'dependency_unavailable',
      });
  });
});

describe('certificate mode device-csr', () => {
  it("answers a device-csr plant's CSR with its certificate; 400, 401, 404, 409 and 503 otherwise", async () => {
    const { body } = await call<PlantStatus>(server.main, 'POST', '/plants', {
      body: { name: 'HTTP device plant', certificateMode: 'device-csr', csrTimeout: '2d' },
    });
    const id = body.plant.id;
    await stack.until(async () => (await stack.plantRow(id))?.iotStatus === 'awaiting-csr');
    const { csrPem } = await deviceCsr(`CN=${thingNameFor(id)}`);
    const path = `/plants/${id}/csr`;
    expect(await errorOf(server.main, 'POST', path, { body: { csr: 'garbage' } })).toMatchObject({
      status: 400,
      code: 'invalid_csr',
    });
    expect(await errorOf(server.main, 'POST', path, { body: { csr: csrPem }, token: null })).toMatchObject({
      status: 401,
    });
    expect(await errorOf(server.temporalDown, 'POST', path, { body: { csr: csrPem } })).toMatchObject({
      status: 503,
      code: 'dependency_unavailable',
    });
    const issued = await call<{ certificateId: string; certificatePem: string }>(server.main, 'POST', path, {
      body: { csr: csrPem },
    });
    expect(issued.status).toBe(200);
    expect(issued.body.certificatePem).toMatch(/^-----BEGIN CERTIFICATE-----/);
    // The same CSR again (a device whose answer was lost) gets its certificate; another key is 409.
    const again = await call<{ certificateId: string }>(server.main, 'POST', path, { body: { csr: csrPem } });
    expect(again.status).toBe(200);
    expect(again.body.certificateId).toBe(issued.body.certificateId);
    const otherKey = (await deviceCsr(`CN=${thingNameFor(id)}`)).csrPem;
    expect(await errorOf(server.main, 'POST', path, { body: { csr: otherKey } })).toMatchObject({
      status: 409,
      code: 'csr_already_accepted',
    });
    expect(
      await errorOf(server.main, 'POST', '/plants/no-such-plant/csr', { body: { csr: csrPem } }),
    ).toMatchObject({ status: 404, code: 'plant_not_found' });
  });

  it('answers 504 csr_not_answered when no worker takes the CSR within the deadline (values: device-csr-deadline.test.ts)', async () => {
    const { body } = await call<PlantStatus>(server.noWorker, 'POST', '/plants', {
      body: { name: 'HTTP device plant without a worker', certificateMode: 'device-csr' },
    });
    const id = body.plant.id;
    try {
      const { csrPem } = await deviceCsr(`CN=${thingNameFor(id)}`);
      expect(
        await errorOf(server.noWorker, 'POST', `/plants/${id}/csr`, { body: { csr: csrPem } }),
      ).toMatchObject({ status: 504, code: 'csr_not_answered' });
    } finally {
      await stack.temporal.workflow
        .getHandle(provisionWorkflowId(id))
        .terminate('test: no worker polls its queue');
    }
  });
});

describe('the OpenAPI document', () => {
  it('documents every registered route, and every documented status but 500 was seen above', () => {
    const documented = Object.entries(doc.paths).flatMap(([path, operations]) =>
      Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`),
    );
    const routes = registered.map((r) => `${r.method} ${r.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}')}`);
    expect(routes.sort()).toEqual(documented.sort());

    const missing: string[] = [];
    for (const operations of Object.values(doc.paths)) {
      for (const operation of Object.values(operations) as {
        operationId: string;
        responses: Record<string, unknown>;
      }[]) {
        for (const status of Object.keys(operation.responses).map(Number)) {
          if (status !== 500 && !observed.get(operation.operationId)?.has(status)) {
            missing.push(`${operation.operationId} ${status}`);
          }
        }
      }
    }
    expect(missing).toEqual([]);
  });
});
