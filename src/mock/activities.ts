/**
 * Mock mode (USE_MOCK_DATA=true): the same provisionPlant / deprovisionPlant workflows, with the
 * activities that would call AWS replaced by ones returning the seed's deterministic mock
 * resources. Database and Temporal activities stay real, so plants really reach `active` and
 * `deprovisioned` in PostgreSQL and the Web UI shows real workflows.
 *
 * Any activity not replaced here runs on an IoT client that refuses every call: a new AWS
 * activity added later fails loudly in mock mode instead of reaching AWS.
 */
import { IoTClient } from '@aws-sdk/client-iot';
import type { Client } from '@temporalio/client';
import { type Activities, createActivities, type KeyVault } from '../activities/index.js';
import type { Db } from '../db/client.js';
import { policyNameFor } from '../iot/naming.js';
import { MOCK_ENDPOINT, mockResourcesFor } from './resources.js';

export class MockModeViolation extends Error {
  override readonly name = 'MockModeViolation';
}

/** An IoT client whose every call throws before anything leaves the process. */
export function refusingIotClient(): IoTClient {
  const client = new IoTClient({
    region: 'mock',
    credentials: { accessKeyId: 'mock', secretAccessKey: 'mock' },
    maxAttempts: 1,
  });
  client.middlewareStack.add(
    (_next, context) => async () => {
      throw new MockModeViolation(
        `Mock mode made an AWS call (${String(context.commandName)}); this is a bug`,
      );
    },
    { step: 'initialize', name: 'mockModeRefuseAws' },
  );
  return client;
}

const refusingVault: KeyVault = {
  async encrypt() {
    throw new MockModeViolation('Mock mode tried to store a private key');
  },
  async decrypt() {
    throw new MockModeViolation('Mock mode tried to read a private key');
  },
};

export interface MockActivityDeps {
  db: Db;
  temporal: Client;
}

export function createMockActivities({ db, temporal }: MockActivityDeps): Activities {
  const real = createActivities({
    iot: refusingIotClient(),
    db,
    vault: refusingVault,
    temporal,
    settings: {
      certificateMode: 'csr',
      topicRuleMode: 'shared',
      policyMode: 'per-plant',
      pollIntervalMs: 1_000,
    },
  });
  const resources = (plantId: string) => mockResourcesFor(plantId, policyNameFor(plantId));

  return {
    ...real,
    async createThing({ plantId }) {
      const { thingName, thingArn } = resources(plantId);
      return { thingName, thingArn };
    },
    async attachThingPrincipal() {},
    async listThingPrincipals() {
      return [];
    },
    async detachThingPrincipal() {},
    async waitForThingDetached() {},
    async deleteThing() {},
    async createCertificate({ plantId }) {
      const { certificateId, certificateArn } = resources(plantId);
      return { certificateId, certificateArn };
    },
    // Certificate mode device-csr: the service checked the CSR; mock mode certifies nothing.
    async createCertificateFromDeviceCsr({ plantId }) {
      const { certificateId, certificateArn } = resources(plantId);
      return { certificateId, certificateArn };
    },
    // No certificate rows are stored in mock mode, so there is never one to find or release.
    async findCertificate() {
      return null;
    },
    async deactivateCertificate() {},
    async deleteCertificate() {},
    // The seed's mock resources name a policy per plant, whatever POLICY_MODE says.
    async plantPolicy({ plantId }) {
      return { policyName: policyNameFor(plantId), shared: false };
    },
    async createPolicy({ plantId }) {
      return { policyName: policyNameFor(plantId) };
    },
    async attachPolicy() {},
    async detachPolicy() {},
    async deletePolicy() {},
    async ensureTelemetryRoute() {
      return { ruleName: null };
    },
    async removeTelemetryRoute() {},
    async getDataEndpoint() {
      return MOCK_ENDPOINT;
    },
  };
}
