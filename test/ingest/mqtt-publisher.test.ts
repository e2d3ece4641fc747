/**
 * The simulator's MQTT transport against a local MQTT-over-TLS broker that requires client
 * certificates of its CA and enforces each certificate's real IoT policy document
 * (policyDocumentFor): what the ATS endpoint does, minus the rules engine.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCipher } from '../../src/crypto/encryption.js';
import { createDb, type DbHandle } from '../../src/db/client.js';
import { migrateDatabase } from '../../src/db/migrate.js';
import { certificates, plants } from '../../src/db/schema.js';
import { parseMessage, ruleOutput } from '../../src/ingest/message.js';
import {
  CredentialsError,
  type DeviceBundle,
  loadDeviceBundles,
  MqttFleetPublisher,
  parseMqttEndpoint,
} from '../../src/ingest/mqtt-publisher.js';
import { type SimMessage, TelemetrySimulator } from '../../src/ingest/simulator.js';
import { csrFor, generateDeviceKey } from '../../src/iot/device-keys.js';
import { thingNameFor } from '../../src/iot/naming.js';
import { policyDocumentFor } from '../../src/iot/policy-document.js';
import { exportDeviceBundle } from '../../src/secrets/export-credentials.js';
import { dropDatabaseWhenClosed } from '../support/drop-database.js';
import { databaseUrl } from '../support/ingest.js';
import { fingerprintOf, type Received, TestCa, TlsBroker, writeBundle } from '../support/mqtt.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);

let ca: TestCa;
let broker: TlsBroker;
let workDir: string;

beforeAll(async () => {
  ca = await TestCa.create();
  broker = await TlsBroker.start(ca);
  workDir = await mkdtemp(join(tmpdir(), 'solar-iot-mqtt-'));
});

afterAll(async () => {
  await broker?.close();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

const newPlantId = (tag: string) => `mqtt-${tag}-${randomBytes(3).toString('hex')}`;

/** A provisioned plant as far as the broker is concerned: a CA-signed certificate with its policy attached. */
async function devicePlant(tag: string, parent: string) {
  const plantId = newPlantId(tag);
  const pems = await ca.deviceCertificate();
  broker.attachPolicy(pems.certificatePem, policyDocumentFor(plantId));
  const directory = await writeBundle(
    join(parent, plantId),
    { plantId, clientId: thingNameFor(plantId) },
    pems,
  );
  return { plantId, directory, ...pems };
}

const receivedFrom = (since: number) => broker.received.slice(since);
const plantOfTopic = (topic: string) => /^solar\/([^/]+)\/data$/.exec(topic)?.[1];

function connectOptions() {
  return { endpoint: broker.endpoint, ca: ca.certificatePem, connectTimeoutMs: 5_000 };
}

describe('MQTT transport of the simulator (mutual TLS)', () => {
  it('publishes every message of two plants as their thing names, QoS 1, on solar/<plantId>/data', async () => {
    const parent = join(workDir, 'fleet');
    const a = await devicePlant('a', parent);
    const b = await devicePlant('b', parent);
    // A directory of bundle directories, as two export-credentials runs under one folder leave it.
    const bundles = await loadDeviceBundles([parent]);
    expect(bundles.map((x) => x.plantId).sort()).toEqual([a.plantId, b.plantId].sort());

    const sim = new TelemetrySimulator({
      plants: 0,
      plantIds: bundles.map((x) => x.plantId),
      devices: 3,
      duplicates: 0.1,
      malformed: 0.15,
      seed: 4242,
      start: new Date('2024-06-21T10:00:00Z'),
      stepMs: 60_000,
    });
    const messages: SimMessage[] = Array.from({ length: 150 }, () => sim.next());
    const oversized = messages.filter((m) => m.kind === 'oversized_body');
    const expected = messages.filter((m) => m.kind !== 'oversized_body');
    // The seeded sample holds every kind, so each path below is exercised.
    expect(oversized.length).toBeGreaterThan(0);
    expect(sim.counts.duplicate).toBeGreaterThan(0);
    expect(sim.counts.invalid_json).toBeGreaterThan(0);

    const since = broker.received.length;
    const connectsBefore = broker.connects.length;
    const publisher = await MqttFleetPublisher.connect(bundles, connectOptions());
    let acked: number;
    try {
      acked = await publisher.publish(messages);
    } finally {
      await publisher.close();
    }
    expect(acked).toBe(expected.length);
    expect(publisher.stats).toEqual({
      connections: 2,
      published: expected.length,
      acked: expected.length,
      reconnects: 0,
      skippedOversized: oversized.length,
      // Without the shadow option it never touches the shadow topics.
      shadowDeltas: 0,
      shadowReports: 0,
      shadowRejected: 0,
    });

    // One connection per plant, client id = thing name, with that plant's certificate.
    expect(broker.connects.slice(connectsBefore)).toEqual(
      expect.arrayContaining([
        { clientId: thingNameFor(a.plantId), certificate: fingerprintOf(a.certificatePem) },
        { clientId: thingNameFor(b.plantId), certificate: fingerprintOf(b.certificatePem) },
      ]),
    );
    expect(broker.connects.length - connectsBefore).toBe(2);

    // Exactly the expected messages, per plant in order, QoS 1, from the plant's own identity.
    const got = receivedFrom(since);
    expect(got).toHaveLength(expected.length);
    for (const p of [a, b]) {
      const mine = got.filter((r) => r.topic === `solar/${p.plantId}/data`);
      expect(mine.map((r) => r.payload)).toEqual(
        expected.filter((m) => m.plantId === p.plantId).map((m) => m.payload),
      );
      for (const r of mine) {
        expect(r).toMatchObject({
          qos: 1,
          clientId: thingNameFor(p.plantId),
          certificate: fingerprintOf(p.certificatePem),
        });
      }
    }

    // What the rule makes of each payload is exactly what the SQS transport sends, and readings validate.
    got.forEach((r: Received, i) => {
      const m = expected.filter((x) => x.plantId === plantOfTopic(r.topic))[
        got.slice(0, i).filter((y) => y.topic === r.topic).length
      ] as SimMessage;
      if (m.kind === 'invalid_json') {
        expect(() => JSON.parse(r.payload)).toThrow();
        return;
      }
      expect(ruleOutput(JSON.parse(r.payload), plantOfTopic(r.topic) as string)).toBe(m.body);
      if (m.kind === 'reading' || m.kind === 'duplicate') {
        const parsed = parseMessage(m.body, `mqtt-${i}`, {
          maxBodyBytes: 128 * 1024,
          now: () => Date.parse('2024-06-22T00:00:00Z'),
        });
        expect(parsed.ok).toBe(true);
        if (parsed.ok) {
          expect(parsed.reading.plantId).toBe(m.plantId);
          expect(parsed.reading.deviceId).toBe(m.deviceId);
          expect(parsed.reading.metrics.length).toBe(8);
        }
      }
    });
    await expect.poll(() => broker.openConnections).toBe(0);
  });

  it('is refused with a certificate not signed by the CA, or none; nothing gets through', async () => {
    const rogueCa = await TestCa.create('CN=not the broker CA');
    const plantId = newPlantId('rogue');
    const rogue = await rogueCa.deviceCertificate();
    // The policy is attached to the rogue certificate too: only the CA check can refuse it.
    broker.attachPolicy(rogue.certificatePem, policyDocumentFor(plantId));
    const directory = await writeBundle(
      join(workDir, 'rogue', plantId),
      { plantId, clientId: thingNameFor(plantId) },
      rogue,
    );
    const bundles = await loadDeviceBundles([directory]);
    const since = broker.received.length;
    const connects = broker.connects.length;
    const tlsErrors = broker.tlsErrors.length;

    await expect(MqttFleetPublisher.connect(bundles, connectOptions())).rejects.toThrow(
      new RegExp(
        `plant ${plantId}: cannot connect to mqtts://127\\.0\\.0\\.1:${broker.port} as ${thingNameFor(plantId)}`,
      ),
    );
    // The TLS server refused the chain (the MQTT layer never saw the client).
    await expect.poll(() => broker.tlsErrors.length).toBeGreaterThan(tlsErrors);
    expect(broker.tlsErrors.at(-1)).toMatch(/^UNABLE_TO_VERIFY_LEAF_SIGNATURE/);

    // No client certificate at all: the handshake is refused as well.
    const clientError = await new Promise<string>((resolve) => {
      let message = 'closed without error';
      const socket = tlsConnect({
        host: '127.0.0.1',
        port: broker.port,
        ca: ca.certificatePem,
        servername: 'localhost',
      });
      socket.on('secureConnect', () => socket.write(Buffer.from([0x10, 0x00])));
      socket.on('error', (error) => {
        message = error.message;
      });
      socket.on('close', () => resolve(message));
    });
    expect(clientError).toMatch(/alert certificate required/);

    expect(broker.connects.length).toBe(connects);
    expect(broker.received.length).toBe(since);
  });

  it("enforces the plant's policy: only its thing name connects, only under solar/<plantId>/", async () => {
    const p = await devicePlant('policy', join(workDir, 'policy'));
    // The simulator refuses a bundle whose client id the policy would refuse...
    const other = join(workDir, 'policy-other', p.plantId);
    await writeBundle(other, { plantId: p.plantId, clientId: 'some-other-client' }, p);
    await expect(loadDeviceBundles([other])).rejects.toThrow(CredentialsError);
    await expect(loadDeviceBundles([other])).rejects.toThrow(
      `allows iot:Connect only as its thing name ${thingNameFor(p.plantId)}`,
    );
    // ...and the broker would too (so the client-id assertions above rest on enforcement).
    const base = {
      host: '127.0.0.1',
      port: broker.port,
      protocol: 'mqtts' as const,
      ca: ca.certificatePem,
      cert: p.certificatePem,
      key: p.privateKeyPem,
      reconnectPeriod: 0,
      connectTimeout: 5_000,
    };
    await expect(mqtt.connectAsync({ ...base, clientId: 'some-other-client' })).rejects.toThrow(
      /Not authorized/i,
    );
    expect(broker.refused.at(-1)).toEqual({ clientId: 'some-other-client', reason: 'iot:Connect denied' });

    // Publishing outside solar/<plantId>/ costs the connection (as on AWS IoT Core).
    const client = await mqtt.connectAsync({ ...base, clientId: thingNameFor(p.plantId) });
    const closed = new Promise<void>((r) => client.once('close', () => r()));
    const since = broker.received.length;
    client.publish('solar/another-plant/data', '{}', { qos: 1 });
    await closed;
    client.end(true);
    expect(broker.received.length).toBe(since);
  });

  it('reconnects after a dropped connection; every message is acknowledged and arrives', async () => {
    const p = await devicePlant('drop', join(workDir, 'drop'));
    const bundles = await loadDeviceBundles([p.directory]);
    const sim = new TelemetrySimulator({
      plants: 0,
      plantIds: [p.plantId],
      devices: 4,
      seed: 99,
      start: new Date('2024-06-21T12:00:00Z'),
    });
    const messages = Array.from({ length: 300 }, () => sim.next());
    const since = broker.received.length;
    const connects = broker.connects.length;
    let dropped = 0;
    broker.onPublish = () => {
      if (dropped === 0 && broker.received.length - since === 60) dropped = broker.dropConnections();
    };
    const lines: string[] = [];
    const publisher = await MqttFleetPublisher.connect(bundles, {
      ...connectOptions(),
      reconnectPeriodMs: 200,
      log: (l) => lines.push(l),
    });
    try {
      expect(await publisher.publish(messages)).toBe(300);
    } finally {
      broker.onPublish = undefined;
      await publisher.close();
    }
    expect(dropped).toBe(1);
    expect(publisher.stats.reconnects).toBeGreaterThanOrEqual(1);
    expect(publisher.stats.acked).toBe(300);
    expect(broker.connects.length - connects).toBeGreaterThanOrEqual(2);
    expect(lines.some((l) => l.includes('reconnected'))).toBe(true);
    // At least once: every payload arrived; a resend of an unacknowledged one may arrive twice.
    const got = receivedFrom(since).map((r) => r.payload);
    expect(new Set(got)).toEqual(new Set(messages.map((m) => m.payload)));
    expect(got.length).toBeGreaterThanOrEqual(300);
  });

  it('publishes a bundle written by export-credentials from the stored, encrypted key and certificate', async () => {
    // The key and CSR come from the provisioning code (device-keys.ts); the CA signs the CSR as
    // CreateCertificateFromCsr does; the rows are what provisioning stores; export is the real one.
    const adminUrl = new URL(databaseUrl());
    const dbName = `mqtt_${randomBytes(5).toString('hex')}`;
    const admin = new pg.Client({ connectionString: adminUrl.toString() });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${dbName}`);
    const url = new URL(adminUrl.toString());
    url.pathname = `/${dbName}`;
    let database: DbHandle | undefined;
    try {
      await migrateDatabase(url.toString());
      database = createDb(url.toString());
      const vault = createCipher({ currentKey: randomBytes(32).toString('hex') });
      const plantId = newPlantId('export');
      const thingName = thingNameFor(plantId);
      const { privateKeyPem } = generateDeviceKey();
      const certificatePem = await ca.signCsr(await csrFor(privateKeyPem, `CN=${thingName}`));
      broker.attachPolicy(certificatePem, policyDocumentFor(plantId));
      const certificateId = randomBytes(32).toString('hex');
      await database.db.insert(plants).values({
        id: plantId,
        name: 'MQTT plant',
        iotStatus: 'active',
        thingName,
        certificateId,
        certificateArn: `arn:aws:iot:us-east-1:123456789012:cert/${certificateId}`,
        policyName: `${thingName}-policy`,
      });
      await database.db.insert(certificates).values({
        requestId: `req-${plantId}`,
        plantId,
        certificateId,
        status: 'active',
        encryptedPrivateKey: await vault.encrypt(privateKeyPem),
        encryptedCertificatePem: await vault.encrypt(certificatePem),
      });
      const directory = join(workDir, 'exported', plantId);
      await exportDeviceBundle({
        db: database.db,
        vault,
        plantId,
        directory,
        endpoint: '127.0.0.1',
      });
      const bundles: DeviceBundle[] = await loadDeviceBundles([join(directory, 'device.json')]);
      expect(bundles).toHaveLength(1);
      expect(bundles[0]).toMatchObject({ plantId, clientId: thingName, endpoint: '127.0.0.1', port: 8883 });

      const sim = new TelemetrySimulator({ plants: 0, plantIds: [plantId], devices: 2, seed: 5 });
      const messages = Array.from({ length: 20 }, () => sim.next());
      const since = broker.received.length;
      // The bundle says port 8883 (AWS); the test broker listens elsewhere.
      const publisher = await MqttFleetPublisher.connect(bundles, connectOptions());
      try {
        expect(await publisher.publish(messages)).toBe(20);
      } finally {
        await publisher.close();
      }
      const got = receivedFrom(since);
      expect(got.map((r) => r.payload)).toEqual(messages.map((m) => m.payload));
      expect(new Set(got.map((r) => `${r.clientId} ${r.topic} ${r.certificate}`))).toEqual(
        new Set([`${thingName} solar/${plantId}/data ${fingerprintOf(certificatePem)}`]),
      );
    } finally {
      await database?.close();
      await dropDatabaseWhenClosed(admin, dbName);
      await admin.end();
    }
  });

  it('with the shadow option, a plant whose policy refuses its shadow topics still publishes, and says why', async () => {
    // attachPolicy without the thing: the policy's thing-name variable resolves to nothing.
    const plant = await devicePlant('noshadow', join(workDir, 'noshadow'));
    const lines: string[] = [];
    const publisher = await MqttFleetPublisher.connect(await loadDeviceBundles([plant.directory]), {
      ...connectOptions(),
      shadow: true,
      log: (line) => lines.push(line),
    });
    try {
      const sim = new TelemetrySimulator({ plants: 0, plantIds: [plant.plantId], devices: 1, seed: 5 });
      expect(await publisher.publish([sim.next(), sim.next()])).toBe(2);
    } finally {
      await publisher.close();
    }
    expect(lines).toContainEqual(
      expect.stringMatching(/no shadow sync: the broker refused the shadow topics .*does not grant them/),
    );
    expect(publisher.stats).toMatchObject({ shadowDeltas: 0, shadowReports: 0 });
  });

  it('npm run simulate --credentials ... publishes over MQTT and prints counts, never the key', async () => {
    const parent = join(workDir, 'cli');
    const a = await devicePlant('cli-a', parent);
    const b = await devicePlant('cli-b', parent);
    const caFile = join(workDir, 'test-ca.pem');
    await writeFile(caFile, ca.certificatePem);
    const since = broker.received.length;
    const { AWS_SQS_QUEUE_URL: _q, ...env } = process.env;
    const { stdout, stderr } = await run(
      process.execPath,
      [
        join(ROOT, 'node_modules/tsx/dist/cli.mjs'),
        join(ROOT, 'src/ingest/simulate.ts'),
        '--credentials',
        parent,
        '--mqtt-endpoint',
        `127.0.0.1:${broker.port}`,
        '--ca',
        caFile,
        '--devices',
        '2',
        '--rate',
        '400',
        '--count',
        '60',
        '--seed',
        '7',
      ],
      { cwd: ROOT, env, timeout: 60_000 },
    );
    const summary = JSON.parse(stdout.trim().split('\n').at(-1) as string) as Record<string, unknown>;
    expect(summary).toMatchObject({
      transport: 'mqtt',
      sent: 60,
      generated: 60,
      connections: 2,
      acked: 60,
      reconnects: 0,
      skippedOversized: 0,
      reading: 60,
    });
    expect((summary.plants as string[]).sort()).toEqual([a.plantId, b.plantId].sort());
    const got = receivedFrom(since);
    expect(got).toHaveLength(60);
    expect(new Set(got.map((r) => `${r.clientId} ${r.topic}`))).toEqual(
      new Set([a, b].map((p) => `${thingNameFor(p.plantId)} solar/${p.plantId}/data`)),
    );
    for (const r of got) expect(JSON.parse(r.payload)).toMatchObject({ plantId: plantOfTopic(r.topic) });
    expect(stderr).toContain('-> MQTT (QoS 1, mutual TLS)');
    // No key material in anything the command printed.
    const output = stdout + stderr;
    expect(output).not.toContain('PRIVATE KEY');
    for (const p of [a, b]) {
      const body = (await readFile(join(p.directory, 'private.pem.key'), 'utf8'))
        .split('\n')
        .filter((l) => l && !l.startsWith('-----'));
      for (const line of body) expect(output).not.toContain(line.slice(0, 32));
    }
  });

  it('the CLI refuses MQTT without bundles, and SQS-only flags with MQTT', async () => {
    const attempt = (args: string[]) =>
      run(
        process.execPath,
        [join(ROOT, 'node_modules/tsx/dist/cli.mjs'), join(ROOT, 'src/ingest/simulate.ts'), ...args],
        {
          cwd: ROOT,
          timeout: 60_000,
        },
      ).then(
        () => ({ code: 0, stderr: '' }),
        (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
      );
    const none = await attempt(['--transport', 'mqtt', '--count', '1']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('--transport mqtt needs --credentials');
    const fifo = await attempt(['--credentials', workDir, '--fifo', '--count', '1']);
    expect(fifo.code).toBe(2);
    expect(fifo.stderr).toContain('--fifo and --queue-url are for the SQS transport');
  });

  it('parses endpoints as host[:port], 8883 by default', () => {
    expect(parseMqttEndpoint('abc-ats.iot.eu-west-1.amazonaws.com')).toEqual({
      host: 'abc-ats.iot.eu-west-1.amazonaws.com',
      port: 8883,
    });
    expect(parseMqttEndpoint('mqtts://127.0.0.1:18883')).toEqual({ host: '127.0.0.1', port: 18883 });
    expect(parseMqttEndpoint('[::1]:443')).toEqual({ host: '::1', port: 443 });
    expect(() => parseMqttEndpoint('host:99999')).toThrow(CredentialsError);
    expect(() => parseMqttEndpoint('a b')).toThrow(CredentialsError);
  });
});
