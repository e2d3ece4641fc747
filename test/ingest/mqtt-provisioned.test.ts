/**
 * End to end: a plant provisioned by the real provisionPlant workflow on moto, its bundle written by
 * the real export-credentials, then published with by the simulator's MQTT transport, over mutual
 * TLS, to a broker that verifies the plant's certificate and enforces the policy moto holds for it.
 *
 * Both certificate modes, each proven to connect and publish:
 * - csr (production's default): the worker makes the device key and sends a CSR. moto, through
 *   tools/stack/moto_server_patched.py, certifies that CSR's key with its emulator CA and publishes
 *   the CA's certificate (MOTO_IOT_CA_FILE, set by test/support/global-setup.ts): the broker trusts that
 *   file, as a real broker trusts the Amazon CA behind AWS IoT certificates.
 * - create-keys: moto returns a key with a certificate it signs with that same key under
 *   "CN=Moto" and publishes no CA for it, so the test rebuilds that issuer from the key
 *   (issuerOfSelfIssued) for the broker to trust.
 * Either way the chain check is real: a broker trusting an impostor CA of the same name (another
 * key) refuses the plant, and the bundle's key must match its certificate (loadDeviceBundles
 * checks it, and so does the TLS handshake, which proves possession of the key).
 */
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DescribeThingCommand,
  GetPolicyCommand,
  ListAttachedPoliciesCommand,
  ListThingPrincipalsCommand,
} from '@aws-sdk/client-iot';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProvisioning } from '../../src/client.js';
import type { CertificateMode } from '../../src/config/index.js';
import { type DeviceBundle, loadDeviceBundles, MqttFleetPublisher } from '../../src/ingest/mqtt-publisher.js';
import { TelemetrySimulator } from '../../src/ingest/simulator.js';
import { publicKeyFingerprintOfCertificate, publicKeyFingerprintOfKey } from '../../src/iot/device-keys.js';
import { thingNameFor } from '../../src/iot/naming.js';
import { exportDeviceBundle } from '../../src/secrets/export-credentials.js';
import { resourceArn } from '../support/iot-policy.js';
import { fingerprintOf, issuerOfSelfIssued, TestCa, TlsBroker } from '../support/mqtt.js';
import { newPlantId, ProvisioningHarness, testSettings } from '../support/provisioning-harness.js';
import { createTimeSkippingEnv } from '../support/temporal.js';

let env: TestWorkflowEnvironment;
let h: ProvisioningHarness;
let workDir: string;
const brokers: TlsBroker[] = [];

beforeAll(async () => {
  env = await createTimeSkippingEnv();
  h = new ProvisioningHarness(env);
  h.settings = testSettings();
  await h.createQueue();
  workDir = await mkdtemp(join(tmpdir(), 'solar-iot-mqtt-e2e-'));
});

afterAll(async () => {
  for (const b of brokers) await b.close();
  await h?.close();
  await env?.teardown();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

/**
 * What a broker must trust to verify the plant's certificate: moto's published CA (csr), or the
 * issuer rebuilt from the certificate's own key (create-keys).
 */
async function issuerToTrust(
  mode: CertificateMode,
  bundle: { certificatePem: string; privateKeyPem: string },
): Promise<string> {
  if (mode === 'create-keys') return issuerOfSelfIssued(bundle.certificatePem, bundle.privateKeyPem);
  const caFile = process.env.MOTO_IOT_CA_FILE;
  if (!caFile)
    throw new Error(
      'MOTO_IOT_CA_FILE is not set: this case needs the moto started by test/support/global-setup.ts (through' +
        ' tools/stack/moto_server_patched.py), or a caller-set MOTO_IOT_CA_FILE for an external moto',
    );
  const caPem = await readFile(caFile, 'utf8');
  // The direct check: issued by that CA (name and key identifier) and signed with its key.
  const ca = new X509Certificate(caPem);
  const leaf = new X509Certificate(bundle.certificatePem);
  expect(ca.ca).toBe(true);
  expect(leaf.checkIssued(ca)).toBe(true);
  expect(leaf.verify(ca.publicKey)).toBe(true);
  return caPem;
}

describe('MQTT transport with a provisioned plant', () => {
  const modes: CertificateMode[] = ['csr', 'create-keys'];
  it.each(modes)(
    'CERTIFICATE_MODE=%s: provision (moto) -> export-credentials -> simulator over mutual TLS, as the thing name, within its policy',
    async (mode) => {
      h.settings = { ...h.settings, certificateMode: mode };
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

      // The bundle's key is the one the certificate certifies (loadDeviceBundles refuses otherwise).
      expect(publicKeyFingerprintOfCertificate(bundle.certificatePem)).toBe(
        publicKeyFingerprintOfKey(bundle.privateKeyPem),
      );

      const serverCa = await TestCa.create();
      const options = { ca: serverCa.certificatePem, connectTimeoutMs: 5_000 };
      // A broker that trusts an impostor of the plant's issuer (same name, another key) refuses the
      // plant's certificate: it checks the issuer's key, not only its name...
      const issuerName = new X509Certificate(bundle.certificatePem).issuer;
      const impostor = await TestCa.create(issuerName.split('\n').join(', '));
      expect(new X509Certificate(impostor.certificatePem).subject).toBe(issuerName);
      const untrusting = await TlsBroker.start(serverCa, [impostor.certificatePem]);
      untrusting.attachPolicy(bundle.certificatePem, policy.policyDocument as string);
      try {
        await expect(
          MqttFleetPublisher.connect(bundles, { ...options, endpoint: untrusting.endpoint }),
        ).rejects.toThrow(`cannot connect to mqtts://127.0.0.1:${untrusting.port} as ${thingName}`);
        await expect.poll(() => untrusting.tlsErrors.length).toBeGreaterThan(0);
        expect(untrusting.connects).toEqual([]);
      } finally {
        await untrusting.close();
      }
      // ...and one that trusts the real issuer verifies the chain and lets it in.
      const broker = await TlsBroker.start(serverCa, [await issuerToTrust(mode, bundle)]);
      brokers.push(broker);
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
      expect(broker.tlsErrors).toEqual([]);
    },
  );
});

/**
 * POLICY_MODE=shared (the production default), read back from moto and evaluated by the broker
 * with its variables and conditions: plant A's device uses its telemetry topic and its shadow;
 * plant B's device, with its own valid certificate, is refused each of those on A's resources.
 */
describe('the shared policy, evaluated by the broker', () => {
  it("lets a device publish telemetry and use its shadow topics, and refuses another plant's device each of them", async () => {
    h.settings = { ...h.settings, certificateMode: 'csr', policyMode: 'shared' };
    const [a, b] = [newPlantId(), newPlantId()];
    const [thingA, thingB] = [thingNameFor(a), thingNameFor(b)];
    await h.withWorker({}, async (taskQueue) => {
      for (const plantId of [a, b])
        await (
          await startProvisioning(env.client, { plantId, plantName: 'MQTT shared' }, { taskQueue })
        ).result();
    });
    const bundleOf = async (plantId: string): Promise<DeviceBundle> => {
      const directory = join(workDir, plantId);
      await exportDeviceBundle({
        db: h.database.db,
        vault: h.vault,
        plantId,
        directory,
        endpoint: '127.0.0.1',
      });
      return (await loadDeviceBundles([directory]))[0] as DeviceBundle;
    };
    const [deviceA, deviceB] = [await bundleOf(a), await bundleOf(b)];

    const serverCa = await TestCa.create();
    const broker = (await TlsBroker.start(serverCa, [await issuerToTrust('csr', deviceA)])).usePoliciesFrom(
      h.iot,
    );
    brokers.push(broker);
    const connect = (device: DeviceBundle, clientId: string) =>
      mqtt.connectAsync(`mqtts://127.0.0.1:${broker.port}`, {
        key: device.privateKeyPem,
        cert: device.certificatePem,
        ca: serverCa.certificatePem,
        clientId,
        protocolVersion: 4,
        reconnectPeriod: 0,
        connectTimeout: 5_000,
      });
    /** Publishes at QoS 0 and resolves true when the broker drops the connection (AWS's answer to a denied publish). */
    const dropped = (client: mqtt.MqttClient, topic: string) =>
      new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 3_000);
        client.once('close', () => {
          clearTimeout(timer);
          resolve(true);
        });
        client.publish(topic, '{}', { qos: 0 });
      });
    const shadowA = `$aws/things/${thingA}/shadow`;

    // Refused first: plant B's device on plant A's resources.
    await expect(connect(deviceB, thingA)).rejects.toThrow(/Not authorized/i);
    expect(broker.refused).toContainEqual({ clientId: thingA, reason: 'iot:Connect denied' });
    const intruder = await connect(deviceB, thingB);
    // SUBACK failure (0x80) for each filter, which mqtt.js reports as a subscribe error.
    for (const filter of [`${shadowA}/update/delta`, `${shadowA}/update/accepted`])
      await expect(intruder.subscribeAsync(filter, { qos: 1 })).rejects.toThrow(/Subscribe error/);
    expect(await dropped(intruder, `solar/${a}/data`)).toBe(true);
    const intruder2 = await connect(deviceB, thingB);
    expect(await dropped(intruder2, `${shadowA}/update`)).toBe(true);
    expect(
      broker.denied.filter((d) => d.clientId === thingB).map((d) => `${d.action} ${d.resource}`),
    ).toEqual([
      `iot:Subscribe ${resourceArn('topicfilter', `${shadowA}/update/delta`)}`,
      `iot:Subscribe ${resourceArn('topicfilter', `${shadowA}/update/accepted`)}`,
      `iot:Publish ${resourceArn('topic', `solar/${a}/data`)}`,
      `iot:Publish ${resourceArn('topic', `${shadowA}/update`)}`,
    ]);

    // Allowed: plant A's device, on its telemetry topic and its classic and named shadow.
    const device = await connect(deviceA, thingA);
    try {
      const answers = [
        `${shadowA}/update/accepted`,
        `${shadowA}/update/delta`,
        `${shadowA}/name/settings/update/delta`,
      ];
      expect((await device.subscribeAsync(answers, { qos: 1 })).map((g) => g.qos)).toEqual([1, 1, 1]);
      const inbox: string[] = [];
      device.on('message', (topic, payload) => inbox.push(`${topic} ${payload.toString()}`));
      await device.publishAsync(`solar/${a}/data`, '{"t":1}', { qos: 1 });
      await device.publishAsync(`${shadowA}/update`, '{"state":{"reported":{"powerLimit":80}}}', { qos: 1 });
      await device.publishAsync(`${shadowA}/get`, '', { qos: 1 });
      await device.publishAsync(`${shadowA}/name/settings/update`, '{"state":{}}', { qos: 1 });
      // The shadow service's answer reaches the device (iot:Receive).
      await broker.publishAsService(`${shadowA}/update/delta`, '{"state":{"powerLimit":70}}');
      await expect.poll(() => inbox).toEqual([`${shadowA}/update/delta {"state":{"powerLimit":70}}`]);
      expect(broker.denied.filter((d) => d.clientId === thingA)).toEqual([]);
      expect(broker.received.filter((r) => r.clientId === thingA).map((r) => r.topic)).toEqual([
        `solar/${a}/data`,
        `${shadowA}/update`,
        `${shadowA}/get`,
        `${shadowA}/name/settings/update`,
      ]);
      expect(broker.received.filter((r) => r.clientId === thingB)).toEqual([]);
    } finally {
      await device.endAsync();
      await intruder.endAsync(true).catch(() => undefined);
      await intruder2.endAsync(true).catch(() => undefined);
    }
  });
});
