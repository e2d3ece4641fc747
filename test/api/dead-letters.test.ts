/**
 * The dead-letter queue's depth (issue 16, item 4): the deliveries the telemetry rule could not
 * make, which its error action sends to AWS_SQS_DEAD_LETTER_QUEUE_URL. Through
 * GET /telemetry/dead-letters, `solar-iot dead-letters` and /readyz, on a queue of this file's own
 * in moto (the rules engine is not emulated: the test puts the error messages there itself).
 */
import { randomUUID } from 'node:crypto';
import { CreateQueueCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OpenApiDocument } from '../../src/api/openapi.js';
import { EXIT } from '../../src/cli/io.js';
import { loadConfig } from '../../src/config/index.js';
import type { DeadLetterDepth } from '../../src/service/dead-letters.js';
import { createSolarIot, type Readiness } from '../../src/service/solar-iot.js';
import { runCli } from '../support/cli.js';
import { awsClientConfig } from '../support/moto.js';
import { TestStack } from '../support/product-stack.js';

let stack: TestStack;
let deadLetterQueueUrl = '';

/** What AWS IoT's error action sends (developer guide, "Error action message format"). */
function errorMessage(plantId: string): string {
  return JSON.stringify({
    ruleName: 'solar_plant_telemetry',
    topic: `solar/${plantId}/data`,
    cloudwatchTraceId: randomUUID(),
    clientId: `solar-plant-${plantId}`,
    base64OriginalPayload: Buffer.from('{"deviceId":"inv-1"}').toString('base64'),
    failures: [
      { failedAction: 'SqsAction', failedResource: 'solar-plant-data', errorMessage: 'queue does not exist' },
    ],
  });
}

beforeAll(async () => {
  const sqs = new SQSClient(awsClientConfig());
  const QueueName = `dead-letters-${randomUUID()}`;
  deadLetterQueueUrl = (await sqs.send(new CreateQueueCommand({ QueueName }))).QueueUrl ?? '';
  for (const plantId of ['p-1', 'p-2', 'p-3'])
    await sqs.send(
      new SendMessageCommand({ QueueUrl: deadLetterQueueUrl, MessageBody: errorMessage(plantId) }),
    );
  sqs.destroy();
  stack = await TestStack.start({
    mode: 'aws',
    worker: false,
    env: { AWS_SQS_DEAD_LETTER_QUEUE_URL: deadLetterQueueUrl },
  });
  await stack.serveApi();
});

afterAll(async () => stack?.close());

describe('dead-letter queue depth', () => {
  it('GET /telemetry/dead-letters answers how many failed deliveries wait, for callers with the token', async () => {
    const { status, body } = await stack.apiGet<DeadLetterDepth>('/telemetry/dead-letters');
    expect(status).toBe(200);
    expect(body).toEqual({ queueUrl: deadLetterQueueUrl, messages: 3, inFlight: 0 });
    expect((await stack.apiGet('/telemetry/dead-letters', null)).status).toBe(401);
    const doc = (await stack.apiGet<OpenApiDocument>('/openapi.json', null)).body;
    const operation = doc.paths['/telemetry/dead-letters']?.get as {
      security: unknown[];
      operationId: string;
    };
    expect(operation.operationId).toBe('getDeadLetters');
    expect(operation.security.length).toBeGreaterThan(0);
  });

  it('/readyz tells the depth to callers with the token, and only "reachable" to the others', async () => {
    const detailed = await stack.apiGet<Readiness>('/readyz');
    expect(detailed.body.checks.deadLetters).toMatchObject({ ok: true, required: false });
    expect(detailed.body.checks.deadLetters.detail).toMatch(
      /^3 failed rule deliveries waiting in .*dead-letters-/,
    );
    const bare = await stack.apiGet<Readiness>('/readyz', null);
    expect(bare.body.checks.deadLetters.detail).toBe('reachable');
  });

  it('solar-iot dead-letters: the same numbers as the API, as text and --json', async () => {
    const cli = (argv: string[]) => runCli(argv, { ...stack.env, ...stack.apiEnv });
    const asJson = await cli(['--json', 'dead-letters']);
    expect(asJson.code, asJson.stderr).toBe(EXIT.ok);
    expect(JSON.parse(asJson.stdout)).toEqual({ queueUrl: deadLetterQueueUrl, messages: 3, inFlight: 0 });
    const text = await cli(['dead-letters']);
    expect(text.code).toBe(EXIT.ok);
    expect(text.stdout).toContain(deadLetterQueueUrl);
    expect(text.stdout).toMatch(/3 failed deliveries waiting/);
  });

  it('names a dead-letter queue that does not exist (503; /readyz stays ready and says why)', async () => {
    const missing = `${deadLetterQueueUrl}-missing`;
    const config = loadConfig({ ...stack.env, AWS_SQS_DEAD_LETTER_QUEUE_URL: missing });
    const solarIot = createSolarIot({
      config,
      temporal: stack.temporal,
      db: stack.database.db,
      aws: stack.aws,
    });
    const error = await solarIot.getDeadLetters().catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'not_configured', kind: 'unavailable' });
    expect((error as Error).message).toContain(missing);
    expect((error as Error).message).toMatch(/AWS_SQS_DEAD_LETTER_QUEUE_URL/);
    const readiness = await solarIot.checkReadiness();
    expect(readiness.checks.deadLetters).toMatchObject({ ok: false, required: false });
    expect(readiness.checks.deadLetters.detail).toMatch(/does not exist/);
  });

  it('has no dead-letter queue in mock mode (409) and says so in /readyz', async () => {
    const config = loadConfig({ ...stack.env, USE_MOCK_DATA: 'true' });
    const solarIot = createSolarIot({ config, temporal: stack.temporal, db: stack.database.db });
    await expect(solarIot.getDeadLetters()).rejects.toMatchObject({ kind: 'conflict' });
    expect((await solarIot.checkReadiness()).checks.deadLetters.detail).toMatch(/^not used/);
  });
});
