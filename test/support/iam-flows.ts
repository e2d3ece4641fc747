/**
 * The flows of each solar-iot process against moto, run through the processes' own wiring with a
 * recorder on their AWS clients (test/iam): the worker as src/worker.ts opens it
 * (openWorkerRuntime, the product's workers), the API as src/api/main.ts (openSolarIot,
 * buildServer, requests over HTTP), the consumer's SQS client as src/ingest/main.ts opens it
 * (openAwsClients) under the consumer and its dead-letter gauge, and the admin tools that run
 * with the worker's configuration (reconcile, export-credentials) through the CLI's run().
 *
 * What the flows do is chosen so that every AWS call the code can make in production is made at
 * least once, on each kind of resource it can touch: a fresh account (the shared policy and rule
 * created; one CreateCertificateFromCsr answer lost, so the recovery searches; the endpoint asked
 * of AWS; shadow, command, dead letters, readiness, a device's CSR, rotation, export, drift report,
 * deprovision),
 * the per-plant and create-keys modes meeting a plant's policy and rule as an earlier release left
 * them, then drift that `reconcile --remove` removes, and an account upgraded from an earlier
 * release (shared policy versions, rule without error action, a thing of the plant's name).
 */

import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreatePolicyCommand,
  CreatePolicyVersionCommand,
  CreateThingCommand,
  CreateTopicRuleCommand,
  IoTClient,
  ReplaceTopicRuleCommand,
  type TopicRulePayload,
} from '@aws-sdk/client-iot';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { NativeConnection } from '@temporalio/worker';
import { eq } from 'drizzle-orm';
import { vi } from 'vitest';
import { buildServer } from '../../src/api/server.js';
import { openAwsClients } from '../../src/app/clients.js';
import { loadApiConfig, loadIngestConfig, loadWorkerConfig } from '../../src/app/config.js';
import { openSolarIot } from '../../src/app/service.js';
import { openWorkerRuntime, type WorkerRuntime } from '../../src/app/worker.js';
import { run as runCli } from '../../src/cli/program.js';
import type { Env } from '../../src/config/index.js';
import { createDb } from '../../src/db/client.js';
import { plants } from '../../src/db/schema.js';
import { measureDeadLetters } from '../../src/ingest/dead-letters.js';
import type { AwsClientInterceptor } from '../../src/iot/clients.js';
import {
  plantRuleNameFor,
  policyNameFor,
  SHARED_POLICY_NAME,
  SHARED_RULE_NAME,
  thingNameFor,
} from '../../src/iot/naming.js';
import { earlierPolicyDocumentsFor, earlierSharedPolicyDocuments } from '../../src/iot/policy-history.js';
import { plantRuleSql, SHARED_RULE_SQL, topicRulePayload } from '../../src/iot/topic-rule.js';
import { startRotation } from '../../src/rotation/client.js';
import type { PlantStatus } from '../../src/service/solar-iot.js';
import { FaultInjector } from '../../tools/faults/index.js';
import { deviceCsr } from './device-csr.js';
import { AwsCallRecorder, allOf, type MiddlewareClient } from './iam-calls.js';
import { body, reading, send, startConsumer, waitFor } from './ingest.js';
import { awsClientConfig, resetMoto } from './moto.js';
import { ensureQueue, envFor } from './product-stack.js';
import { uniqueTaskQueue } from './temporal.js';
import { createTestWorkers } from './worker.js';

/** The processes whose calls are recorded; the create-keys worker is a worker with another mode. */
export interface Recorders {
  worker: AwsCallRecorder;
  workerCreateKeys: AwsCallRecorder;
  api: AwsCallRecorder;
  ingest: AwsCallRecorder;
}

export interface FlowSetting {
  telemetryQueueUrl: string;
  deadLetterQueueUrl: string;
  ruleRoleArn: string;
}

const TOKEN = 'iam-test-api-token-0123456789';
const newPlantId = (what: string) => `iam-${what}-${randomUUID().slice(0, 8)}`;

/** The admin's IoT client (what an operator or an earlier release did, not recorded). */
async function asAdmin(work: (iot: IoTClient) => Promise<unknown>): Promise<void> {
  const iot = new IoTClient(awsClientConfig());
  try {
    await work(iot);
  } finally {
    iot.destroy();
  }
}

/**
 * AWS answers CreateThing for a name taken with other attributes with ResourceAlreadyExists; moto
 * overwrites the attributes instead. Injected here, once, for that thing.
 */
function thingExists(thingName: string): AwsClientInterceptor {
  let answered = false;
  return {
    install(client) {
      (client as unknown as MiddlewareClient).middlewareStack.add(
        (next, context) => async (args) => {
          const input = args.input as { thingName?: string };
          if (answered || context.commandName !== 'CreateThingCommand' || input.thingName !== thingName)
            return next(args);
          answered = true;
          throw Object.assign(
            new Error(`Thing ${thingName} already exists with different attributes (injected)`),
            {
              name: 'ResourceAlreadyExistsException',
              $fault: 'client',
              $metadata: { httpStatusCode: 409 },
            },
          );
        },
        { step: 'initialize', name: 'iamTestThingExists' },
      );
      return client;
    },
    flush() {},
  };
}

/** A rule as releases before the dead-letter queue made it: no error action. */
function ruleWithoutErrorAction(setting: FlowSetting, sql: string): TopicRulePayload {
  const { errorAction: _none, ...payload } = topicRulePayload({
    sql,
    description: 'Telemetry to SQS, as an earlier release made it',
    queueUrl: setting.telemetryQueueUrl,
    roleArn: setting.ruleRoleArn,
    deadLetterQueueUrl: setting.deadLetterQueueUrl,
  });
  return payload;
}

async function startWorker(env: Env, interceptor: AwsClientInterceptor) {
  const runtime: WorkerRuntime = await openWorkerRuntime(loadWorkerConfig(env), { aws: { interceptor } });
  const connection = await NativeConnection.connect({ address: env.TEMPORAL_ADDRESS ?? '' });
  const { workers } = await createTestWorkers({
    connection,
    activities: runtime.activities,
    dataConverter: runtime.dataConverter,
    taskQueue: env.TEMPORAL_TASK_QUEUE,
  });
  const running = workers.run();
  return {
    runtime,
    result: (workflowId: string) => runtime.temporal.workflow.getHandle(workflowId).result(),
    async stop() {
      workers.shutdown();
      await running;
      await connection.close();
      await runtime.close();
    },
  };
}

async function startApi(env: Env, interceptor: AwsClientInterceptor) {
  const { core, codec, api } = loadApiConfig(env);
  const opened = await openSolarIot(core, { codec, aws: { interceptor } });
  const { app } = buildServer({ solarIot: opened.solarIot, settings: api });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  return {
    async call(method: string, path: string, payload?: unknown): Promise<unknown> {
      const res = await fetch(base + path, {
        method,
        headers: {
          authorization: `Bearer ${TOKEN}`,
          ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(payload === undefined ? {} : { body: JSON.stringify(payload) }),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${text}`);
      return text ? JSON.parse(text) : undefined;
    },
    async close() {
      await app.close();
      await opened.close();
    },
  };
}

/** Where the admin commands print: nowhere, their exit code is checked. */
const quiet = { write: () => true };

/** A command that prints its result: quiet here, its exit code checked. */
async function quietly(run: () => Promise<number>, accepted: number[]): Promise<void> {
  const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
  try {
    const code = await run();
    if (!accepted.includes(code)) throw new Error(`tool exited ${code}`);
  } finally {
    write.mockRestore();
    log.mockRestore();
  }
}

/** Worker (default modes) on a fresh account, API and the worker's admin tools around one plant's life. */
async function freshAccount(env: Env, recorders: Recorders): Promise<void> {
  // One lost answer: the worker finds the certificate AWS made (ListCertificates, DescribeCertificate).
  const faults = new FaultInjector('CreateCertificateFromCsr=1:lost-response#1');
  const worker = await startWorker(env, allOf(recorders.worker, faults));
  const api = await startApi(env, recorders.api);
  const plantId = newPlantId('fresh');
  const exportDir = join(await mkdtemp(join(tmpdir(), 'iam-export-')), 'bundle');
  try {
    await api.call('POST', '/plants', { name: 'IAM test plant', id: plantId });
    await worker.result(`provision-plant-${plantId}`);
    await api.call('PATCH', `/plants/${plantId}/shadow`, { desired: { powerLimit: 1000 } });
    await api.call('GET', `/plants/${plantId}/shadow`);
    await api.call('POST', `/plants/${plantId}/commands`, { command: 'restart' });
    await api.call('GET', '/telemetry/dead-letters');
    await api.call('GET', '/readyz');
    const rotation = await startRotation(
      worker.runtime.temporal,
      { plantId, gracePeriod: 0 },
      { taskQueue: env.TEMPORAL_TASK_QUEUE },
    );
    await rotation.result();
    const admin = (argv: string[]) =>
      runCli(argv, { stdout: quiet, stderr: quiet, env }, { aws: { interceptor: recorders.worker } });
    await quietly(() => admin(['export-credentials', plantId, exportDir]), [0]);
    // 0 no drift, 1 drift (in the full suite, other files' plants share the database and moto): it ran.
    await quietly(() => admin(['--json', 'reconcile']), [0, 1]);
    await api.call('DELETE', `/plants/${plantId}`);
    await worker.result(`deprovision-plant-${plantId}`);
    await deviceKeyPlant(api, worker);
  } finally {
    await api.close();
    await worker.stop();
    await rm(join(exportDir, '..'), { recursive: true, force: true });
  }
}

/** Certificate mode device-csr: the API hands the device's CSR on and reads back its certificate. */
async function deviceKeyPlant(
  api: Awaited<ReturnType<typeof startApi>>,
  worker: Awaited<ReturnType<typeof startWorker>>,
): Promise<void> {
  const plantId = newPlantId('device-csr');
  await api.call('POST', '/plants', {
    name: 'IAM device-key plant',
    id: plantId,
    certificateMode: 'device-csr',
  });
  await waitFor('the device-csr plant waits for its CSR', async () => {
    const status = (await api.call('GET', `/plants/${plantId}`)) as PlantStatus;
    return status.plant.iotStatus === 'awaiting-csr';
  });
  const { csrPem } = await deviceCsr(`CN=${thingNameFor(plantId)}`);
  await api.call('POST', `/plants/${plantId}/csr`, { csr: csrPem });
  await api.call('DELETE', `/plants/${plantId}`);
  await worker.result(`deprovision-plant-${plantId}`);
}

/**
 * A worker with POLICY_MODE and TOPIC_RULE_MODE per-plant and CERTIFICATE_MODE=create-keys meets
 * the plant's policy and rule as an earlier release left them (upgraded, rule replaced). The
 * plant is then marked deprovisioned with its resources left in AWS (drift), which
 * `reconcile --remove` reports and removes.
 */
async function otherModesAndDrift(env: Env, recorders: Recorders, setting: FlowSetting): Promise<void> {
  const modes = {
    ...env,
    TEMPORAL_TASK_QUEUE: uniqueTaskQueue('iam-modes'),
    POLICY_MODE: 'per-plant',
    TOPIC_RULE_MODE: 'per-plant',
    CERTIFICATE_MODE: 'create-keys',
  };
  // One plant meets its policy and rule as an earlier release left them, the other none.
  const [plantId, freshPlantId] = [newPlantId('modes'), newPlantId('modes-fresh')];
  await asAdmin(async (iot) => {
    const [earlier] = earlierPolicyDocumentsFor(plantId) as [string];
    await iot.send(new CreatePolicyCommand({ policyName: policyNameFor(plantId), policyDocument: earlier }));
    const topicRulePayload = ruleWithoutErrorAction(setting, plantRuleSql(plantId));
    await iot.send(new CreateTopicRuleCommand({ ruleName: plantRuleNameFor(plantId), topicRulePayload }));
  });
  const worker = await startWorker(modes, recorders.workerCreateKeys);
  const api = await startApi(modes, recorders.api);
  try {
    await Promise.all(
      [plantId, freshPlantId].map(async (id) => {
        await api.call('POST', '/plants', { name: 'IAM test plant, other modes', id });
        await worker.result(`provision-plant-${id}`);
      }),
    );
  } finally {
    await api.close();
    await worker.stop();
  }
  const database = createDb(env.DATABASE_URL ?? '');
  try {
    await database.db.update(plants).set({ iotStatus: 'deprovisioned' }).where(eq(plants.id, plantId));
  } finally {
    await database.close();
  }
  const cli = { stdout: quiet, stderr: quiet, env: modes };
  await quietly(
    () => runCli(['--json', 'reconcile', '--remove'], cli, { aws: { interceptor: recorders.worker } }),
    // 1: drift left that is not ours to remove (in the full suite, other files' resources share moto).
    [0, 1],
  );
}

/**
 * A worker in default modes meets the shared policy and rule as an earlier release left them
 * (five versions, an old default; no error action) and a thing of the plant's name with other
 * attributes (DescribeThing proves it the plant's).
 */
async function upgradedAccount(env: Env, recorders: Recorders, setting: FlowSetting): Promise<void> {
  const plantId = newPlantId('upgrade');
  await asAdmin(async (iot) => {
    const [earlier] = earlierSharedPolicyDocuments() as [string];
    for (let i = 0; i < 4; i++)
      await iot.send(
        new CreatePolicyVersionCommand({
          policyName: SHARED_POLICY_NAME,
          policyDocument: earlier,
          setAsDefault: true,
        }),
      );
    const topicRulePayload = ruleWithoutErrorAction(setting, SHARED_RULE_SQL);
    await iot.send(new ReplaceTopicRuleCommand({ ruleName: SHARED_RULE_NAME, topicRulePayload }));
    const attributePayload = { attributes: { plantId, site: 'commissioned by hand' } };
    await iot.send(new CreateThingCommand({ thingName: thingNameFor(plantId), attributePayload }));
  });
  const worker = await startWorker(env, allOf(recorders.worker, thingExists(thingNameFor(plantId))));
  const api = await startApi(env, recorders.api);
  try {
    await api.call('POST', '/plants', { name: 'IAM test plant, upgraded account', id: plantId });
    await worker.result(`provision-plant-${plantId}`);
  } finally {
    await api.close();
    await worker.stop();
  }
}

/** The consumer takes a reading off the telemetry queue, held long enough to extend its visibility. */
async function ingest(env: Env, recorders: Recorders): Promise<void> {
  const config = loadIngestConfig({ ...env, INGEST_VISIBILITY_SECONDS: '2' });
  const aws = openAwsClients(config.core, { interceptor: recorders.ingest });
  const admin = new SQSClient(awsClientConfig());
  const plantId = newPlantId('ingest');
  await send(admin, config.queueUrl, body(reading(plantId, 1)));
  const consumer = startConsumer(config.queueUrl, {
    sqs: aws.sqs,
    settings: { ...config.ingest, pollers: 1, waitSeconds: 1, metricsPort: 0 },
    hooks: {
      beforeCommit: () =>
        waitFor('visibility extended', () => recorders.ingest.count('ChangeMessageVisibilityBatch') > 0),
    },
  });
  try {
    await waitFor('reading deleted', () => recorders.ingest.count('DeleteMessageBatch') > 0);
    await measureDeadLetters(aws.sqs, config.deadLetterQueueUrl ?? '', consumer.metrics);
  } finally {
    await consumer.close();
    aws.destroy();
    admin.destroy();
  }
}

/** Runs every flow on a fresh moto; the recorders hold what each process called. */
export async function runFlows(): Promise<{ recorders: Recorders; setting: FlowSetting }> {
  await resetMoto();
  const telemetryQueueUrl = await ensureQueue();
  const sqs = new SQSClient(awsClientConfig());
  const { QueueUrl: deadLetterQueueUrl = '' } = await sqs.send(
    new CreateQueueCommand({ QueueName: 'solar-plant-data-dlq' }),
  );
  sqs.destroy();
  const env = await envFor('aws', uniqueTaskQueue('iam'), {
    // Asked of AWS (DescribeEndpoint), as when AWS_IOT_ENDPOINT is not configured.
    AWS_IOT_ENDPOINT: '',
    AWS_SQS_DEAD_LETTER_QUEUE_URL: deadLetterQueueUrl,
    API_TOKEN: TOKEN,
  });
  const setting = { telemetryQueueUrl, deadLetterQueueUrl, ruleRoleArn: env.AWS_IOT_ROLE_ARN ?? '' };
  const recorders: Recorders = {
    worker: new AwsCallRecorder(),
    workerCreateKeys: new AwsCallRecorder(),
    api: new AwsCallRecorder(),
    ingest: new AwsCallRecorder(),
  };
  await freshAccount(env, recorders);
  await otherModesAndDrift(env, recorders, setting);
  await upgradedAccount(env, recorders, setting);
  await ingest(env, recorders);
  return { recorders, setting };
}
