import type { IoTClient } from '@aws-sdk/client-iot';
import type { Client } from '@temporalio/client';
import type { Config } from '../config/index.js';
import type { Db } from '../db/client.js';

/** Seals private keys before they touch the database; the only holder of the encryption keys. */
export interface KeyVault {
  encrypt(plaintext: string): Promise<string>;
  decrypt(ciphertext: string): Promise<string>;
}

export interface IotSettings {
  /** `csr`: we generate the key, AWS signs a CSR. `create-keys`: AWS generates it and returns it once. */
  certificateMode: 'csr' | 'create-keys';
  /** `shared`: one rule on solar/+/data for every plant. `per-plant`: a rule per plant. */
  topicRuleMode: 'shared' | 'per-plant';
  /**
   * `shared`: one policy with thing policy variables for every plant (POLICY_MODE's default).
   * `per-plant`: a policy per plant.
   */
  policyMode: 'shared' | 'per-plant';
  sqsQueueUrl?: string | undefined;
  /** Where the telemetry rule's error action sends failed deliveries; default `<queue>-dlq`. */
  deadLetterQueueUrl?: string | undefined;
  iotRoleArn?: string | undefined;
  /** ATS data endpoint; asked of AWS (DescribeEndpoint) when not configured. */
  iotEndpoint?: string | undefined;
  /** How often waiting activities heartbeat and poll, in milliseconds. */
  pollIntervalMs?: number;
}

/** Everything activities talk to, injected so tests hand in emulator-backed or faulty clients. */
export interface ActivityDeps {
  iot: IoTClient;
  db: Db;
  vault: KeyVault;
  settings: IotSettings;
  /** For the activities that stop or wait for another operation on the same plant. */
  temporal: Client;
}

/** The activities' settings from the application's configuration (worker, reconciliation CLI). */
export function iotSettingsFrom(config: Config): IotSettings {
  return {
    certificateMode: config.iot.certificateMode,
    topicRuleMode: config.iot.topicRuleMode,
    policyMode: config.iot.policyMode,
    sqsQueueUrl: config.aws.sqsQueueUrl,
    deadLetterQueueUrl: config.aws.deadLetterQueueUrl,
    iotRoleArn: config.aws.iotRoleArn,
    iotEndpoint: config.aws.iotEndpoint,
  };
}
