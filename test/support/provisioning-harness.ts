/**
 * A provisioning worker on the time-skipping Temporal server, with real activities against moto
 * and PostgreSQL, and a way to replace any activity per test to inject faults on top of them.
 */
import { randomUUID } from 'node:crypto';
import { IoTClient } from '@aws-sdk/client-iot';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { Client } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { eq } from 'drizzle-orm';
import { type Activities, createActivities, type IotSettings } from '../../src/activities/index.js';
import { createCipher } from '../../src/crypto/encryption.js';
import { createDb } from '../../src/db/client.js';
import { certificates, plants } from '../../src/db/schema.js';
import { AwsFaults } from './aws-faults.js';
import { listAllCertificates, listAllPolicies, listAllThings, listAllTopicRules } from './aws-listings.js';
import { awsClientConfig } from './moto.js';
import { type ActivityOverrides, runWorkers } from './worker.js';

export function testSettings(overrides: Partial<IotSettings> = {}): IotSettings {
  return {
    certificateMode: 'csr',
    topicRuleMode: 'shared',
    // The tests written before POLICY_MODE check per-plant policies; shared-policy tests set it.
    policyMode: 'per-plant',
    sqsQueueUrl: undefined,
    iotRoleArn: 'arn:aws:iam::123456789012:role/solar-iot-rule',
    iotEndpoint: 'test-ats.iot.us-east-1.amazonaws.com',
    pollIntervalMs: 200,
    ...overrides,
  };
}

export class ProvisioningHarness {
  readonly iot = new IoTClient({ ...awsClientConfig(), maxAttempts: 1 });
  readonly faults = new AwsFaults(this.iot);
  readonly database = createDb(requiredEnv('DATABASE_URL'));
  readonly vault = createCipher({ currentKey: requiredEnv('ENCRYPTION_KEY') });
  settings = testSettings();

  /**
   * `dataConverter`: the codec of the file's client, which the workers then share (the bundle with
   * the encrypting failure converter); none: Temporal's default converter.
   */
  constructor(
    readonly env: TestWorkflowEnvironment,
    readonly dataConverter?: DataConverter,
  ) {}

  /** The standard queue the telemetry rule targets. */
  async createQueue(): Promise<string> {
    const sqs = new SQSClient(awsClientConfig());
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'solar-plant-data' }));
    sqs.destroy();
    this.settings = { ...this.settings, sqsQueueUrl: QueueUrl };
    return QueueUrl ?? '';
  }

  realActivities(): Activities {
    return createActivities({
      iot: this.iot,
      db: this.database.db,
      vault: this.vault,
      temporal: this.env.client,
      settings: this.settings,
    });
  }

  /** Runs `body` while a worker with the real activities, patched by `overrides`, serves a fresh queue. */
  withWorker<T>(overrides: ActivityOverrides, body: (taskQueue: string) => Promise<T>): Promise<T> {
    return runWorkers(
      {
        connection: this.env.nativeConnection,
        dataConverter: this.dataConverter,
        activities: { ...this.realActivities(), ...overrides },
      },
      body,
    );
  }

  /** A client of the same server WITHOUT the codec: what `temporal workflow show` sees. */
  rawClient(): Client {
    return new Client({ connection: this.env.connection, namespace: this.env.namespace ?? 'default' });
  }

  /** Everything of ours in moto, by kind. The shared telemetry rule is infrastructure, listed apart. */
  async awsInventory() {
    const [things, certs, policies, rules] = await Promise.all([
      listAllThings(this.iot),
      listAllCertificates(this.iot),
      listAllPolicies(this.iot),
      listAllTopicRules(this.iot),
    ]);
    const ruleNames = rules.map((r) => r.ruleName ?? '');
    return {
      things: things.map((t) => t.thingName ?? ''),
      certificates: certs.map((c) => ({ id: c.certificateId ?? '', status: c.status })),
      policies: policies.map((p) => p.policyName ?? ''),
      plantRules: ruleNames.filter((name) => name.startsWith('solar_plant_rule_')),
      sharedRules: ruleNames.filter((name) => !name.startsWith('solar_plant_rule_')),
    };
  }

  async plantRow(plantId: string) {
    const [row] = await this.database.db.select().from(plants).where(eq(plants.id, plantId));
    return row;
  }

  async certificateRows(plantId: string) {
    return this.database.db.select().from(certificates).where(eq(certificates.plantId, plantId));
  }

  async close() {
    this.iot.destroy();
    await this.database.close();
  }
}

export function newPlantId(): string {
  return randomUUID();
}

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value)
    throw new Error(
      `${name} is not set: run the tests through vitest (test/support/global-setup.ts provides it)`,
    );
  return value;
}
