/**
 * The simulator's device shadow (src/ingest/device-shadow.ts) in the field, without the product:
 * one device on the TLS test broker (shared policy, evaluated), the test shadow service over moto,
 * and an app writing desired state through the shadow service's HTTP front. What a datalogger
 * meets that the happy path does not: a report the shadow service refuses, a connection lost
 * after that.
 */
import { randomBytes } from 'node:crypto';
import { CreateThingCommand, IoTClient } from '@aws-sdk/client-iot';
import {
  GetThingShadowCommand,
  IoTDataPlaneClient,
  UpdateThingShadowCommand,
} from '@aws-sdk/client-iot-data-plane';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, it } from 'vitest';
import { DeviceShadow, type ShadowStats } from '../../src/ingest/device-shadow.js';
import { PLANT_ID_ATTRIBUTE, thingNameFor } from '../../src/iot/naming.js';
import { sharedPolicyDocument } from '../../src/iot/policy-document.js';
import { waitFor } from '../support/ingest.js';
import { awsClientConfig } from '../support/moto.js';
import { TestCa, TlsBroker } from '../support/mqtt.js';
import { ShadowService } from '../support/shadow-service.js';

let service: ShadowService;
let broker: TlsBroker;
let ca: TestCa;
let iot: IoTClient;
let app: IoTDataPlaneClient;
const clients: MqttClient[] = [];

beforeAll(async () => {
  service = await ShadowService.start(awsClientConfig());
  ca = await TestCa.create();
  broker = await TlsBroker.start(ca);
  await service.serve(broker);
  iot = new IoTClient(awsClientConfig());
  app = new IoTDataPlaneClient({ ...awsClientConfig(), endpoint: service.endpoint });
});

afterEach(async () => {
  for (const c of clients.splice(0)) await c.endAsync(true);
});

afterAll(async () => {
  await broker?.close();
  await service?.close();
  iot?.destroy();
  app?.destroy();
});

/** A registered plant's device, connected with the shared policy, its shadow started. */
async function device() {
  const plantId = `shadow-${randomBytes(4).toString('hex')}`;
  const thingName = thingNameFor(plantId);
  await iot.send(
    new CreateThingCommand({
      thingName,
      attributePayload: { attributes: { [PLANT_ID_ATTRIBUTE]: plantId } },
    }),
  );
  const cert = await ca.deviceCertificate();
  broker.attachPolicy(cert.certificatePem, sharedPolicyDocument(), {
    [thingName]: { [PLANT_ID_ATTRIBUTE]: plantId },
  });
  const client = await mqtt.connectAsync({
    ...broker.endpoint,
    protocol: 'mqtts',
    key: cert.privateKeyPem,
    cert: cert.certificatePem,
    ca: ca.certificatePem,
    clientId: thingName,
    clean: true,
    reconnectPeriod: 100,
  });
  clients.push(client);
  const stats: ShadowStats = { shadowDeltas: 0, shadowReports: 0, shadowRejected: 0 };
  await DeviceShadow.start(client, thingName, stats, () => undefined);
  return { thingName, stats };
}

const desire = (thingName: string, desired: Record<string, unknown>) =>
  app.send(
    new UpdateThingShadowCommand({ thingName, payload: Buffer.from(JSON.stringify({ state: { desired } })) }),
  );

async function reported(thingName: string): Promise<Record<string, unknown>> {
  try {
    const out = await app.send(new GetThingShadowCommand({ thingName }));
    const doc = JSON.parse(Buffer.from(out.payload ?? []).toString('utf8'));
    return doc.state?.reported ?? {};
  } catch {
    return {};
  }
}

it('reports again after the shadow service refused its report with a retryable error (500, 429)', async () => {
  const { thingName, stats } = await device();
  service.failNextUpdates(1, 500, 'Internal service failure');
  await desire(thingName, { powerLimit: 1000 });
  await waitFor('the refusal', () => stats.shadowRejected === 1, 20_000);
  await waitFor('reported = desired', async () => (await reported(thingName)).powerLimit === 1000, 20_000);
});

it('reports after a reconnection what a refused report left undone', async () => {
  const { thingName, stats } = await device();
  // 400 is not worth repeating on the same connection; the document read at the next connect is.
  service.failNextUpdates(1, 400, 'Invalid request');
  await desire(thingName, { powerLimit: 700 });
  await waitFor('the refusal', () => stats.shadowRejected === 1, 20_000);
  const reconnected = new Promise((r) => clients[0]?.once('connect', r));
  broker.dropConnections();
  await reconnected;
  await waitFor('reported = desired', async () => (await reported(thingName)).powerLimit === 700, 20_000);
});
