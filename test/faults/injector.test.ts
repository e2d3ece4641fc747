import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateCertificateFromCsrCommand,
  CreatePolicyCommand,
  CreateThingCommand,
  DescribeThingCommand,
  IoTClient,
  ListCertificatesCommand,
} from '@aws-sdk/client-iot';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { toActivityFailure } from '../../src/iot/aws-errors.js';
import { createAwsClients } from '../../src/iot/clients.js';
import { csrFor, generateDeviceKey } from '../../src/iot/device-keys.js';
import {
  AWS_IOT_QUOTAS,
  FAULT_KINDS,
  FaultInjector,
  FaultSpecError,
  faultInjectorFromEnv,
  parseFaultSpec,
} from '../../tools/faults/index.js';
import { awsClientConfig, resetMoto } from '../support/moto.js';

const clients: { destroy(): void }[] = [];
afterAll(() => {
  for (const c of clients) c.destroy();
});
beforeEach(async () => {
  await resetMoto();
});

function iotWith(injector: FaultInjector): IoTClient {
  const iot = injector.install(new IoTClient({ ...awsClientConfig(), maxAttempts: 1 }));
  clients.push(iot);
  return iot;
}

const plain = new IoTClient({ ...awsClientConfig(), maxAttempts: 1 });
clients.push(plain);

async function thingExists(thingName: string): Promise<boolean> {
  try {
    await plain.send(new DescribeThingCommand({ thingName }));
    return true;
  } catch (error) {
    if ((error as Error).name === 'ResourceNotFoundException') return false;
    throw error;
  }
}

async function errorOf(promise: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await promise;
  } catch (error) {
    return error as Error & Record<string, unknown>;
  }
  throw new Error('expected the call to fail');
}

describe('fault spec', () => {
  it('reads the compact form and the JSON form alike', () => {
    const compact = parseFaultSpec(
      'seed=7; *=0.2:throttling,500,503,timeout,reset,lost; CreateThing|Attach*@plant-1=1:500#2; ' +
        'DeleteThing@plant-2=delay-after:1500; quota=aws-iot; quota:CreatePolicy=5/s,burst=2; report=/tmp/x.json',
    );
    const json = parseFaultSpec(
      JSON.stringify({
        seed: 7,
        faults: [
          {
            operation: '*',
            rate: 0.2,
            kinds: ['throttling', '500', '503', 'timeout', 'reset', 'lost-response'],
          },
          { operations: ['CreateThing', 'Attach*'], match: 'plant-1', rate: 1, kinds: ['500'], times: 2 },
          { operation: 'DeleteThing', match: 'plant-2', delayAfterMs: 1500 },
        ],
        quotas: { preset: 'aws-iot', CreatePolicy: { ratePerSecond: 5, burst: 2 } },
        reportFile: '/tmp/x.json',
      }),
    );
    expect(compact).toEqual(json);
    expect(compact.rules[0]?.kinds).toEqual([...FAULT_KINDS]);
    expect(compact.quotas.CreatePolicy).toEqual({ ratePerSecond: 5, burst: 2 });
    expect(compact.quotas.AttachPolicy).toEqual({ ratePerSecond: AWS_IOT_QUOTAS.AttachPolicy });
  });

  it('names the wrong item', () => {
    expect(() => parseFaultSpec('*=0.2:throttling; CreateThing=1.5:500')).toThrow(
      /item 2 .*rate must be a number from 0 to 1/,
    );
    expect(() => parseFaultSpec('*=0.2:explode')).toThrow(/unknown fault kind "explode"/);
    expect(() => parseFaultSpec('quota=azure')).toThrow(/unknown quota preset/);
    expect(() => parseFaultSpec('{"faults":[{"operation":"Create Thing","kinds":["500"]}]}')).toThrow(
      FaultSpecError,
    );
  });

  it('is switched on by SOLAR_IOT_FAULTS and refused in production', () => {
    expect(faultInjectorFromEnv({})).toBeUndefined();
    expect(faultInjectorFromEnv({ SOLAR_IOT_FAULTS: '*=0.1:503' })).toBeInstanceOf(FaultInjector);
    expect(() => faultInjectorFromEnv({ SOLAR_IOT_FAULTS: '*=0.1:503', NODE_ENV: 'production' })).toThrow(
      /SOLAR_IOT_FAULTS is set but NODE_ENV=production/,
    );
    expect(() => faultInjectorFromEnv({ SOLAR_IOT_FAULTS: '*=2:503' })).toThrow(/^SOLAR_IOT_FAULTS: item 1/);
  });
});

describe('fault injection middleware (moto)', () => {
  it('answers each kind as the SDK would, and the activities classify every one as retryable', async () => {
    const faults = new FaultInjector(
      'CreateThing=1:throttling#1; CreateThing=1:500#1; CreateThing=1:503#1; CreateThing=1:timeout#1; CreateThing=1:reset#1',
    );
    const iot = iotWith(faults);
    const seen = [];
    for (let i = 0; i < 5; i++) {
      const error = await errorOf(iot.send(new CreateThingCommand({ thingName: 'faulty' })));
      seen.push({
        name: error.name,
        status: (error.$metadata as { httpStatusCode?: number } | undefined)?.httpStatusCode,
        code: error.code,
      });
      expect(toActivityFailure('CreateThing', error)).toBeInstanceOf(ApplicationFailure);
      expect(toActivityFailure('CreateThing', error).nonRetryable).toBe(false);
    }
    expect(seen).toEqual([
      { name: 'ThrottlingException', status: 429, code: undefined },
      { name: 'InternalFailureException', status: 500, code: undefined },
      { name: 'ServiceUnavailableException', status: 503, code: undefined },
      { name: 'TimeoutError', status: undefined, code: undefined },
      { name: 'Error', status: undefined, code: 'ECONNRESET' },
    ]);
    // None of them reached AWS; the sixth call (rules exhausted) does.
    expect(await thingExists('faulty')).toBe(false);
    await iot.send(new CreateThingCommand({ thingName: 'faulty' }));
    expect(await thingExists('faulty')).toBe(true);
    expect(faults.snapshot().injected.CreateThing).toEqual({
      throttling: 1,
      500: 1,
      503: 1,
      timeout: 1,
      reset: 1,
    });
    expect(faults.snapshot().totals).toMatchObject({ calls: 6, injected: 5 });
  });

  it('loses the response of a call AWS has carried out', async () => {
    const iot = iotWith(new FaultInjector('CreateThing=1:lost-response'));
    const error = await errorOf(iot.send(new CreateThingCommand({ thingName: 'landed' })));
    expect(error.name).toBe('TimeoutError');
    expect(await thingExists('landed')).toBe(true);
  });

  it('holds a response back until its latency is spent, with the work already done at AWS', async () => {
    let release: () => void = () => undefined;
    const slept: number[] = [];
    const faults = new FaultInjector('CreateThing@slow-one=delay-after:60000', {
      sleep: (ms) => {
        slept.push(ms);
        return new Promise<void>((resolve) => {
          release = resolve;
        });
      },
    });
    const iot = iotWith(faults);
    await iot.send(new CreateThingCommand({ thingName: 'fast-one' }));
    let settled = false;
    const call = iot.send(new CreateThingCommand({ thingName: 'slow-one' })).finally(() => {
      settled = true;
    });
    while (!(await thingExists('slow-one'))) await new Promise((r) => setTimeout(r, 20));
    while (slept.length === 0) await new Promise((r) => setTimeout(r, 20));
    expect(settled).toBe(false);
    release();
    await call;
    expect(slept).toEqual([60000]);
    expect(faults.snapshot().delayed).toEqual({ CreateThing: 1 });
  });

  it('matches calls by the text of their input, CSR subjects included', async () => {
    const faults = new FaultInjector('CreateCertificateFromCsr@solar-plant-target=1:503');
    const iot = iotWith(faults);
    const csr = async (cn: string) => csrFor(generateDeviceKey().privateKeyPem, `CN=${cn}`);
    await iot.send(
      new CreateCertificateFromCsrCommand({ certificateSigningRequest: await csr('solar-plant-other') }),
    );
    const error = await errorOf(
      iot.send(
        new CreateCertificateFromCsrCommand({ certificateSigningRequest: await csr('solar-plant-target') }),
      ),
    );
    expect(error.name).toBe('ServiceUnavailableException');
    const { certificates = [] } = await plain.send(new ListCertificatesCommand({}));
    expect(certificates).toHaveLength(1);
  });

  it('draws the same faults from the same seed, at about the configured rate', async () => {
    const run = async (seed: number) => {
      const faults = new FaultInjector(`seed=${seed}; *=0.2:throttling,503,reset`);
      const outcomes: string[] = [];
      for (let i = 0; i < 1000; i++) {
        outcomes.push(
          await faults.around('ListThings', {}, async () => 'ok').catch((error: Error) => error.name),
        );
      }
      return outcomes;
    };
    const a = await run(42);
    expect(await run(42)).toEqual(a);
    expect(await run(43)).not.toEqual(a);
    const failed = a.filter((o) => o !== 'ok').length;
    // Binomial(1000, 0.2): mean 200, standard deviation 12.6; this seed's count is fixed.
    expect(failed).toBeGreaterThan(150);
    expect(failed).toBeLessThan(250);
    expect(new Set(a)).toEqual(
      new Set(['ok', 'ThrottlingException', 'ServiceUnavailableException', 'Error']),
    );
  });

  it('answers ThrottlingException above a token bucket rate, per operation', async () => {
    let now = 1_000_000;
    const faults = new FaultInjector('quota:CreatePolicy=10/s', { now: () => now });
    const iot = iotWith(faults);
    const document = JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: 'iot:Connect', Resource: '*' }],
    });
    const create = (i: number) =>
      iot
        .send(new CreatePolicyCommand({ policyName: `quota-${i}`, policyDocument: document }))
        .then(() => 'ok')
        .catch((error: Error) => error.name);
    const burst = [];
    for (let i = 0; i < 12; i++) burst.push(await create(i));
    expect(burst.filter((r) => r === 'ok')).toHaveLength(10);
    expect(burst.slice(10)).toEqual(['ThrottlingException', 'ThrottlingException']);
    now += 100; // one token back at 10/s
    expect([await create(100), await create(101)]).toEqual(['ok', 'ThrottlingException']);
    // Other operations are not limited by this bucket.
    await iot.send(new CreateThingCommand({ thingName: 'unlimited' }));
    expect(faults.snapshot().injected.CreatePolicy).toEqual({ quota: 3 });
  });

  it('works on any client, below the SDK retries: SQS retries two injected 503s and the message is sent once', async () => {
    const faults = new FaultInjector('SendMessage=1:503#2');
    const sqs = faults.install(new SQSClient({ ...awsClientConfig(), maxAttempts: 3 }));
    clients.push(sqs);
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'faulty-queue' }));
    await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'hello' }));
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['ApproximateNumberOfMessages'] }),
    );
    expect(Attributes?.ApproximateNumberOfMessages).toBe('1');
    expect(faults.snapshot().calls.SendMessage).toBe(3);
    expect(faults.snapshot().injected.SendMessage).toEqual({ 503: 2 });
  });

  it('is installed on every client by createAwsClients when configured, and reports to a file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'faults-'));
    try {
      const reportFile = join(dir, 'report.json');
      const config = loadConfig({
        AWS_ENDPOINT_URL: awsClientConfig().endpoint,
        AWS_REGION: awsClientConfig().region,
        USE_AWS_IOT: 'false',
      });
      const faults = faultInjectorFromEnv({ SOLAR_IOT_FAULTS: `DescribeThing=1:503; report=${reportFile}` });
      const aws = createAwsClients(config, { interceptor: faults });
      const error = await errorOf(aws.iot.send(new DescribeThingCommand({ thingName: 'x' })));
      expect(error.name).toBe('ServiceUnavailableException');
      aws.destroy();
      const report = JSON.parse(await readFile(reportFile, 'utf8'));
      expect(report.injected).toEqual({ DescribeThing: { 503: 1 } });
      // Without the variable nothing is installed.
      const bare = createAwsClients(config, { interceptor: undefined });
      expect(bare.interceptor).toBeUndefined();
      bare.destroy();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
