/**
 * Reconciliation tests: the provisioning harness (real activities against moto and PostgreSQL,
 * workers on the file's Temporal server) with its own key, and helpers that make drift by hand.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import {
  AttachPolicyCommand,
  AttachThingPrincipalCommand,
  CreateCertificateFromCsrCommand,
  CreateKeysAndCertificateCommand,
  CreatePolicyCommand,
  CreateThingCommand,
  CreateTopicRuleCommand,
} from '@aws-sdk/client-iot';
import { eq, sql } from 'drizzle-orm';
import { createCipher } from '../../src/crypto/encryption.js';
import { certificates, type IotStatus, plants } from '../../src/db/schema.js';
import { csrFor, generateDeviceKey } from '../../src/iot/device-keys.js';
import { policyNameFor, thingNameFor } from '../../src/iot/naming.js';
import { topicRulePayload } from '../../src/iot/topic-rule.js';
import type { PlantIotResources } from '../../src/workflows/contract.js';
import { ProvisioningHarness } from './provisioning-harness.js';

/** A valid key of our own: the suite's shared test key is refused by loadConfig (see the CLI test). */
export const RECONCILE_KEY = randomBytes(32).toString('hex');

export class ReconcileHarness extends ProvisioningHarness {
  override readonly vault = createCipher({ currentKey: RECONCILE_KEY });

  get db() {
    return this.database.db;
  }

  /** Every test starts from empty tables: reconciliation judges the whole database. */
  async resetDatabase(): Promise<void> {
    await this.db.execute(sql`TRUNCATE plants, certificates`);
  }

  provision(plantId: string, taskQueue: string): Promise<PlantIotResources> {
    return this.env.client.workflow.execute('provisionPlant', {
      taskQueue,
      workflowId: `provision-plant-${plantId}`,
      args: [{ plantId, plantName: `Plant ${plantId}` }],
    });
  }

  async setStatus(plantId: string, iotStatus: IotStatus): Promise<void> {
    await this.db.update(plants).set({ iotStatus, updatedAt: new Date() }).where(eq(plants.id, plantId));
  }

  async addPlant(plantId: string, iotStatus: IotStatus): Promise<void> {
    await this.db.insert(plants).values({ id: plantId, name: `Plant ${plantId}`, iotStatus });
  }

  /** A thing under our naming, with our attribute (or another plant's). */
  async createThing(plantId: string, attributePlantId = plantId): Promise<void> {
    await this.iot.send(
      new CreateThingCommand({
        thingName: thingNameFor(plantId),
        attributePayload: { attributes: { plantId: attributePlantId } },
      }),
    );
  }

  /**
   * A certificate issued for a key we stored (as a lost CreateCertificateFromCsr answer leaves
   * it: key row without the certificate id). Returns the certificate and the request id.
   */
  async certificateFromStoredKey(plantId: string) {
    const { privateKeyPem } = generateDeviceKey();
    const requestId = `manual/${randomUUID()}`;
    await this.db.insert(certificates).values({
      requestId,
      plantId,
      encryptedPrivateKey: await this.vault.encrypt(privateKeyPem),
      submittedAt: new Date(),
    });
    const issued = await this.iot.send(
      new CreateCertificateFromCsrCommand({
        // As createCertificate does: the OU names the request, so moto's certificate can be traced to it.
        certificateSigningRequest: await csrFor(
          privateKeyPem,
          `CN=${thingNameFor(plantId)}, OU=${createHash('sha256').update(requestId).digest('hex').slice(0, 32)}`,
        ),
        setAsActive: true,
      }),
    );
    return {
      certificateId: issued.certificateId ?? '',
      certificateArn: issued.certificateArn ?? '',
      requestId,
    };
  }

  /** A key row whose certificate no longer exists in AWS. */
  async staleKey(plantId: string): Promise<string> {
    const requestId = `stale/${randomUUID()}`;
    await this.db.insert(certificates).values({
      requestId,
      plantId,
      certificateId: randomBytes(32).toString('hex'),
      certificateArn: 'arn:aws:iot:us-east-1:123456789012:cert/gone',
      encryptedPrivateKey: await this.vault.encrypt(generateDeviceKey().privateKeyPem),
      status: 'active',
    });
    return requestId;
  }

  async createPolicy(plantId: string, document: string): Promise<void> {
    await this.iot.send(
      new CreatePolicyCommand({ policyName: policyNameFor(plantId), policyDocument: document }),
    );
  }

  async createRule(ruleName: string, sqlText: string): Promise<void> {
    await this.iot.send(
      new CreateTopicRuleCommand({
        ruleName,
        topicRulePayload: topicRulePayload({
          sql: sqlText,
          description: 'made by hand',
          queueUrl: this.settings.sqsQueueUrl ?? '',
          roleArn: this.settings.iotRoleArn ?? '',
        }),
      }),
    );
  }

  /** Someone else's resources in the same account: never ours to report or touch. */
  async createForeignResources(): Promise<{ certificateId: string }> {
    await this.iot.send(new CreateThingCommand({ thingName: 'weather-station-1' }));
    const cert = await this.iot.send(new CreateKeysAndCertificateCommand({ setAsActive: true }));
    await this.iot.send(
      new AttachThingPrincipalCommand({ thingName: 'weather-station-1', principal: cert.certificateArn }),
    );
    await this.iot.send(
      new CreatePolicyCommand({
        policyName: 'weather-policy',
        policyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Action: 'iot:*', Resource: '*' }],
        }),
      }),
    );
    await this.iot.send(
      new AttachPolicyCommand({ policyName: 'weather-policy', target: cert.certificateArn }),
    );
    return { certificateId: cert.certificateId ?? '' };
  }

  async certificateRow(requestId: string) {
    const [row] = await this.db.select().from(certificates).where(eq(certificates.requestId, requestId));
    return row;
  }
}

export function plantId(label: string): string {
  return `${label}-${randomUUID().slice(0, 8)}`;
}
