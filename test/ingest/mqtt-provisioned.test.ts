/**
 * End to end: a plant provisioned by the real provisionPlant workflow on moto, its bundle written by
 * the real export-credentials, then published with by the simulator's MQTT transport, over mutual
 * TLS, to a broker that verifies the plant's certificate and enforces the policy moto holds for it.
 *
 * Why CERTIFICATE_MODE=create-keys here: with CSR (the default) moto signs a certificate for a key
 * of its own, never for ours, so no TLS handshake can use it. With CreateKeysAndCertificate moto
 * returns the key of its certificate, which provisioning stores encrypted like any other. moto
 * issues it under "CN=Moto" with the certificate's own key and publishes no CA, so the test rebuilds
 * that issuer from the key (issuerOfSelfIssued) for the broker to trust: the chain check is real.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DescribeThingCommand,
  GetPolicyCommand,
  ListAttachedPoliciesCommand,
  ListThingPrincipalsCommand,
} from '@aws-sdk/client-iot';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProvisioning } from '../../src/client.js';
import { loadDeviceBundles, MqttFleetPublisher } from '../../src/ingest/mqtt-publisher.js';
import { TelemetrySimulator } from '../../src/ingest/simulator.js';
import { thingNameFor } from '../../src/iot/naming.js';
import { exportDeviceBundle } from '../../src/secrets/export-credentials.js';
import { newPlantId, ProvisioningHarness, testSettings } from '../support/provisioning-harness.js';
import { createTimeSkippingEnv } from '../support/temporal.js';
import { fingerprintOf, issuerOfSelfIssued, TestCa, TlsBroker } from './mqtt-support.js';

let env: TestWorkflowEnvironment;
let h: ProvisioningHarness;
let workDir: string;
let broker: TlsBroker | undefined;

beforeAll(async () => {
  env = await createTimeSkippingEnv();
  h = new ProvisioningHarness(env);
  h.settings = testSettings({ certificateMode: 'create-keys' });
  await h.createQueue();
  workDir = await mkdtemp(join(tmpdir(), 'solar-iot-mqtt-e2e-'));
});

afterAll(async () => {
  await broker?.close();
  await h?.close();
  await env?.teardown();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe('MQTT transport with a provisioned plant', () => {
  it('provision (moto) -> export-credentials -> simulator over mutual TLS, as the thing name, within its policy', async () => {
    const plantId = newPlantId();
    const thingName = thingNameFor(plantId);
    const provisioned = await h.withWorker({}, async (taskQueue) =>
      (await startProvisioning(env.client, { plantId, plantName: 'MQTT e2e' }, { taskQueue })).result(),
    );
    expect(provisioned.thingName).toBe(thingName);

    const directory = join(workDir, plantId);
    await exportDeviceBundle({
      db: h.database.db,
      vault: h.vault,
      plantId,
      directory,
      endpoint: '127.0.0.1',
    });
    const bundles = await loadDeviceBundles([directory]);
    expect(bundles).toHaveLength(1);
    const bundle = bundles[0] as (typeof bundles)[number];
    expect(bundle).toMatchObject({ plantId, clientId: thingName });

    // What AWS IoT would check at the ATS endpoint: the certificate's chain, the thing it is
    // attached to, and the policy attached to it (read back from moto, not recomputed).
    const principals = (await h.iot.send(new ListThingPrincipalsCommand({ thingName }))).principals ?? [];
    const certificateArn = principals.find((p) => p.endsWith(`/${provisioned.certificateId}`));
    expect(certificateArn).toBeDefined();
    const attached =
      (await h.iot.send(new ListAttachedPoliciesCommand({ target: certificateArn }))).policies ?? [];
    expect(attached).toHaveLength(1);
    const policy = await h.iot.send(new GetPolicyCommand({ policyName: attached[0]?.policyName }));
    expect((await h.iot.send(new DescribeThingCommand({ thingName }))).thingName).toBe(thingName);

    const serverCa = await TestCa.create();
    const options = { ca: serverCa.certificatePem, connectTimeoutMs: 5_000 };
    // A broker that does not trust moto's issuer refuses the plant's certificate...
    const untrusting = await TlsBroker.start(serverCa);
    untrusting.attachPolicy(bundle.certificatePem, policy.policyDocument as string);
    try {
      await expect(
        MqttFleetPublisher.connect(bundles, { ...options, endpoint: untrusting.endpoint }),
      ).rejects.toThrow(`cannot connect to mqtts://127.0.0.1:${untrusting.port} as ${thingName}`);
      expect(untrusting.connects).toEqual([]);
    } finally {
      await untrusting.close();
    }
    // ...and one that trusts it (rebuilt from the key) verifies the chain and lets it in.
    const plantCa = await issuerOfSelfIssued(bundle.certificatePem, bundle.privateKeyPem);
    broker = await TlsBroker.start(serverCa, [plantCa]);
    broker.attachPolicy(bundle.certificatePem, policy.policyDocument as string);

    const sim = new TelemetrySimulator({ plants: 0, plantIds: [plantId], devices: 3, seed: 11 });
    const messages = Array.from({ length: 30 }, () => sim.next());
    const publisher = await MqttFleetPublisher.connect(bundles, { ...options, endpoint: broker.endpoint });
    try {
      expect(await publisher.publish(messages)).toBe(30);
    } finally {
      await publisher.close();
    }
    expect(broker.connects).toEqual([
      { clientId: thingName, certificate: fingerprintOf(bundle.certificatePem) },
    ]);
    expect(broker.received.map((r) => r.payload)).toEqual(messages.map((m) => m.payload));
    expect(new Set(broker.received.map((r) => `${r.clientId} ${r.topic} ${r.qos}`))).toEqual(
      new Set([`${thingName} solar/${plantId}/data 1`]),
    );
  });
});
