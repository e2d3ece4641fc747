/**
 * The test broker's shadow service (shadow-service.ts) behaves as the AWS IoT developer guide
 * says the Device Shadow service does, for a device on the broker (per-plant policy, mutual TLS)
 * and an app on the HTTP data plane, with moto as the store both read.
 */
import { randomUUID } from 'node:crypto';
import { CreateThingCommand, IoTClient } from '@aws-sdk/client-iot';
import {
  ConflictException,
  GetThingShadowCommand,
  IoTDataPlaneClient,
  UpdateThingShadowCommand,
} from '@aws-sdk/client-iot-data-plane';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PLANT_ID_ATTRIBUTE, thingNameFor } from '../../src/iot/naming.js';
import { policyDocumentFor } from '../../src/iot/policy-document.js';
import { awsClientConfig } from './moto.js';
import { TestCa, TlsBroker } from './mqtt.js';
import { ShadowService } from './shadow-service.js';

const plantId = `shadow-${randomUUID().slice(0, 8)}`;
const thingName = thingNameFor(plantId);
const prefix = `$aws/things/${thingName}/shadow`;
let service: ShadowService;
let broker: TlsBroker;
let app: IoTDataPlaneClient;
let device: mqtt.MqttClient;
const inbox: { topic: string; payload: Record<string, unknown> }[] = [];

beforeAll(async () => {
  const moto = awsClientConfig();
  const iot = new IoTClient(moto);
  await iot.send(
    new CreateThingCommand({
      thingName,
      attributePayload: { attributes: { [PLANT_ID_ATTRIBUTE]: plantId } },
    }),
  );
  iot.destroy();
  service = await ShadowService.start(moto);
  app = new IoTDataPlaneClient({ ...moto, endpoint: service.endpoint });
  const ca = await TestCa.create();
  broker = await TlsBroker.start(ca);
  await service.serve(broker);
  const cert = await ca.deviceCertificate();
  broker.attachPolicy(cert.certificatePem, policyDocumentFor(plantId), { [thingName]: { plantId } });
  device = await mqtt.connectAsync(`mqtts://127.0.0.1:${broker.port}`, {
    key: cert.privateKeyPem,
    cert: cert.certificatePem,
    ca: ca.certificatePem,
    clientId: thingName,
    protocolVersion: 4,
    reconnectPeriod: 0,
  });
  const answers = ['get/accepted', 'get/rejected', 'update/accepted', 'update/rejected', 'update/delta'];
  const granted = await device.subscribeAsync(
    [...answers, 'update/documents'].map((a) => `${prefix}/${a}`),
    { qos: 1 },
  );
  expect(granted.map((g) => g.qos)).toEqual([1, 1, 1, 1, 1, 1]);
  device.on('message', (topic, payload) =>
    inbox.push({ topic: topic.slice(prefix.length + 1), payload: JSON.parse(payload.toString()) }),
  );
});

afterAll(async () => {
  await device?.endAsync();
  await broker?.close();
  await service?.close();
  app?.destroy();
});

/** Everything the device received since the last call, once it holds `count` messages. */
async function received(count: number) {
  await expect.poll(() => inbox.length).toBeGreaterThanOrEqual(count);
  return inbox.splice(0, inbox.length);
}
const publish = (op: string, body: unknown) =>
  device.publishAsync(`${prefix}/${op}`, typeof body === 'string' ? body : JSON.stringify(body), { qos: 1 });
const updateFromApp = async (body: object) =>
  JSON.parse(
    Buffer.from(
      (
        await app.send(
          new UpdateThingShadowCommand({ thingName, payload: Buffer.from(JSON.stringify(body)) }),
        )
      ).payload ?? [],
    ).toString(),
  );
const ts = expect.any(Number);

describe('the shadow service', () => {
  it('answers get, update and errors on the MQTT topics, and publishes accepted, delta and documents for updates from either API', async () => {
    // No shadow yet: rejected with 404, the request's token echoed.
    await publish('get', { clientToken: 'g0' });
    expect(await received(1)).toEqual([
      {
        topic: 'get/rejected',
        payload: {
          code: 404,
          message: `No shadow exists with name: '${thingName}'`,
          timestamp: ts,
          clientToken: 'g0',
        },
      },
    ]);

    // The app sets desired over HTTP: accepted, delta (desired keys not reported) and documents reach the device.
    expect(await updateFromApp({ state: { desired: { powerLimit: 800, mode: 'eco' } } })).toMatchObject({
      version: 1,
    });
    const afterApp = await received(3);
    expect(afterApp.map((m) => m.topic)).toEqual(['update/accepted', 'update/delta', 'update/documents']);
    expect(afterApp[1]?.payload).toEqual({
      state: { powerLimit: 800, mode: 'eco' },
      metadata: { powerLimit: { timestamp: ts }, mode: { timestamp: ts } },
      version: 1,
      timestamp: ts,
    });
    expect(afterApp[2]?.payload).toEqual({
      current: {
        state: { desired: { powerLimit: 800, mode: 'eco' } },
        metadata: expect.any(Object),
        version: 1,
      },
      timestamp: ts,
    });

    // The device reports one key: accepted with its token, no delta (a report sets no desired state).
    await publish('update', { state: { reported: { powerLimit: 800 } }, clientToken: 'u1' });
    const afterReport = await received(2);
    expect(afterReport.map((m) => m.topic)).toEqual(['update/accepted', 'update/documents']);
    expect(afterReport[0]?.payload).toMatchObject({
      state: { reported: { powerLimit: 800 } },
      version: 2,
      clientToken: 'u1',
    });
    expect(afterReport[1]?.payload).toMatchObject({
      previous: { state: { desired: { powerLimit: 800, mode: 'eco' } }, version: 1 },
      current: {
        state: { desired: { powerLimit: 800, mode: 'eco' }, reported: { powerLimit: 800 } },
        version: 2,
      },
      clientToken: 'u1',
    });

    // A new desired value: the delta holds every desired key that differs from reported, not only the request's.
    await updateFromApp({ state: { desired: { powerLimit: 600 } } });
    const delta = (await received(3)).find((m) => m.topic === 'update/delta');
    expect(delta?.payload).toMatchObject({ state: { powerLimit: 600, mode: 'eco' }, version: 3 });

    // Refused requests: a stale version (409), invalid JSON, a state that is not an object, a token over 64 bytes.
    await publish('update', { state: { reported: { powerLimit: 600 } }, version: 2, clientToken: 'stale' });
    await publish('update', '{"state": ');
    await publish('update', { state: 5, clientToken: 'bad-state' });
    await publish('update', { state: { reported: {} }, clientToken: 'x'.repeat(65) });
    // Answers to requests in flight together may come in any order (the 409 waits for moto).
    const refusals = await received(4);
    expect(refusals).toHaveLength(4);
    expect(refusals).toEqual(
      expect.arrayContaining([
        {
          topic: 'update/rejected',
          payload: { code: 409, message: 'Version conflict', timestamp: ts, clientToken: 'stale' },
        },
        { topic: 'update/rejected', payload: { code: 400, message: 'Invalid JSON', timestamp: ts } },
        {
          topic: 'update/rejected',
          payload: {
            code: 400,
            message: 'State node must be an object',
            timestamp: ts,
            clientToken: 'bad-state',
          },
        },
        { topic: 'update/rejected', payload: { code: 400, message: 'Invalid clientToken', timestamp: ts } },
      ]),
    );

    // The device catches up at the current version; get shows no delta, and so does the HTTP API (moto).
    await publish('update', {
      state: { reported: { powerLimit: 600, mode: 'eco' } },
      version: 3,
      clientToken: 'u2',
    });
    expect((await received(2))[0]?.payload).toMatchObject({ version: 4, clientToken: 'u2' });
    await publish('get', { clientToken: 'g1' });
    const [got] = await received(1);
    expect(got?.topic).toBe('get/accepted');
    expect(got?.payload).toMatchObject({
      version: 4,
      clientToken: 'g1',
      state: { desired: { powerLimit: 600, mode: 'eco' }, reported: { powerLimit: 600, mode: 'eco' } },
    });
    expect((got?.payload.state as object) ?? {}).not.toHaveProperty('delta');
    const stored = JSON.parse(
      Buffer.from((await app.send(new GetThingShadowCommand({ thingName }))).payload ?? []).toString(),
    );
    expect(stored).toMatchObject({ version: 4, state: { reported: { powerLimit: 600, mode: 'eco' } } });

    // An HTTP update the service refuses answers on HTTP only: nothing reaches MQTT.
    await expect(updateFromApp({ state: { desired: { powerLimit: 1 } }, version: 1 })).rejects.toBeInstanceOf(
      ConflictException,
    );
    await publish('get', {});
    expect((await received(1)).map((m) => m.topic)).toEqual(['get/accepted']);
  });
});
