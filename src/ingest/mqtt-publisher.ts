/**
 * The simulator's MQTT transport: each plant publishes its telemetry the way a real device does,
 * over MQTT 3.1.1 with mutual TLS, using the device bundle `export-credentials` wrote for it.
 *
 * - One connection per plant to `mqtts://<ATS endpoint>:8883` (port 443 adds the ALPN protocol
 *   `x-amzn-mqtt-ca` AWS IoT requires there), client certificate and key from the bundle.
 * - Client id = the plant's thing name: the plant's IoT policy (src/iot/policy-document.ts) allows
 *   `iot:Connect` only on `client/<thingName>`; a bundle that says otherwise is refused here.
 * - Publishes the device JSON (SimMessage.payload) to `solar/<plantId>/data` with QoS 1 and
 *   resolves when every PUBACK is in. A dropped connection is re-established by MQTT.js every
 *   `reconnectPeriodMs`; unacknowledged QoS 1 publishes are resent on the new connection (so the
 *   broker may see one twice: at least once, as with real devices; ingestion deduplicates).
 * - Payloads over 128 KiB are not sent (AWS IoT Core refuses them and drops the connection, which
 *   would make the client resend forever); they are counted in `skippedOversized`.
 *
 * The private key is read into memory and handed to TLS only: no message, error or log line here
 * contains it (errors name files, never their content).
 */
import { X509Certificate } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { z } from 'zod';
import { publicKeyFingerprintOfCertificate, publicKeyFingerprintOfKey } from '../iot/device-keys.js';
import { assertValidPlantId, InvalidPlantIdError, telemetryTopicFor, thingNameFor } from '../iot/naming.js';
import { DeviceShadow, type ShadowStats } from './device-shadow.js';
import type { SimMessage } from './simulator.js';

/** AWS IoT Core's largest PUBLISH payload. */
export const MAX_MQTT_PAYLOAD_BYTES = 128 * 1024;
export const DEFAULT_MQTT_PORT = 8883;
/** What AWS IoT requires to speak MQTT with a client certificate on port 443. */
const AWS_MQTT_ALPN_443 = 'x-amzn-mqtt-ca';

/** A bundle cannot be used; the message says which file and why. Never holds key material. */
export class CredentialsError extends Error {
  override readonly name = 'CredentialsError';
}

/** One plant's device identity, loaded from an export-credentials bundle. */
export interface DeviceBundle {
  plantId: string;
  /** = thing name: the only client id the plant's policy lets connect. */
  clientId: string;
  /** ATS endpoint host from device.json, if it has one. */
  endpoint?: string | undefined;
  port: number;
  certificatePem: string;
  /** Never log this. */
  privateKeyPem: string;
  /** Where the bundle came from (a directory), for messages. */
  source: string;
}

const DeviceJson = z.object({
  plantId: z.string(),
  thingName: z.string().optional(),
  clientId: z.string(),
  endpoint: z.string().optional(),
  port: z.number().int().min(1).max(65_535).optional(),
  files: z.object({ certificate: z.string(), privateKey: z.string(), rootCa: z.string().optional() }),
  topics: z.object({ publishTelemetry: z.string().optional() }).optional(),
});

const DEVICE_JSON = 'device.json';

async function isFile(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isFile() ?? false;
}

async function readBundleFile(directory: string, name: string, what: string): Promise<string> {
  // A bundle's files sit in its directory; a name that climbs out of it is not one of ours.
  if (name.includes('/') || name.includes('\\') || name === '..' || name === '.') {
    throw new CredentialsError(
      `${join(directory, DEVICE_JSON)}: ${what} file name ${JSON.stringify(name)} is not a plain file name`,
    );
  }
  const path = join(directory, name);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new CredentialsError(
      `cannot read the ${what} ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
  if (!text.includes('-----BEGIN ')) throw new CredentialsError(`${path} is not a PEM file (${what})`);
  return text;
}

/** One bundle directory (the output of `export-credentials <plantId> <dir>`). */
async function loadBundle(directory: string): Promise<DeviceBundle> {
  const devicePath = join(directory, DEVICE_JSON);
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(devicePath, 'utf8'));
  } catch (error) {
    throw new CredentialsError(`cannot read ${devicePath}: ${(error as Error).message}`);
  }
  const parsed = DeviceJson.safeParse(raw);
  if (!parsed.success) {
    throw new CredentialsError(
      `${devicePath} is not a device bundle written by export-credentials: ${parsed.error.issues
        .map((i) => `${i.path.join('.') || '(root)'} ${i.message}`)
        .join('; ')}`,
    );
  }
  const device = parsed.data;
  try {
    assertValidPlantId(device.plantId);
  } catch (error) {
    if (error instanceof InvalidPlantIdError) throw new CredentialsError(`${devicePath}: ${error.message}`);
    throw error;
  }
  const thingName = thingNameFor(device.plantId);
  if (device.clientId !== thingName) {
    throw new CredentialsError(
      `${devicePath}: client id ${JSON.stringify(device.clientId)} would be refused; the IoT policy of plant ` +
        `${device.plantId} allows iot:Connect only as its thing name ${thingName}`,
    );
  }
  const topic = device.topics?.publishTelemetry;
  if (topic !== undefined && topic !== telemetryTopicFor(device.plantId)) {
    throw new CredentialsError(
      `${devicePath}: telemetry topic ${JSON.stringify(topic)} is not ${telemetryTopicFor(device.plantId)}`,
    );
  }
  const certificatePem = await readBundleFile(directory, device.files.certificate, 'certificate');
  const privateKeyPem = await readBundleFile(directory, device.files.privateKey, 'private key');
  let matches: boolean;
  try {
    new X509Certificate(certificatePem);
    matches = publicKeyFingerprintOfKey(privateKeyPem) === publicKeyFingerprintOfCertificate(certificatePem);
  } catch {
    throw new CredentialsError(
      `${directory}: ${device.files.certificate} or ${device.files.privateKey} cannot be parsed`,
    );
  }
  if (!matches) {
    throw new CredentialsError(
      `${directory}: the private key does not belong to the certificate (a bundle exported from an ` +
        'emulator with --emulator-certificate cannot connect anywhere)',
    );
  }
  return {
    plantId: device.plantId,
    clientId: thingName,
    endpoint: device.endpoint || undefined,
    port: device.port ?? DEFAULT_MQTT_PORT,
    certificatePem,
    privateKeyPem,
    source: directory,
  };
}

/**
 * Bundles from paths, each one of: a bundle directory (holds device.json), a device.json file, or
 * a directory whose subdirectories are bundles (one per plant). At most one bundle per plant.
 */
export async function loadDeviceBundles(paths: readonly string[]): Promise<DeviceBundle[]> {
  const directories: string[] = [];
  for (const given of paths) {
    const path = resolve(given);
    const info = await stat(path).catch(() => undefined);
    if (!info) throw new CredentialsError(`${given} does not exist`);
    if (info.isFile()) {
      directories.push(dirname(path));
    } else if (await isFile(join(path, DEVICE_JSON))) {
      directories.push(path);
    } else {
      const entries = (await readdir(path, { withFileTypes: true }))
        .filter((e) => e.isDirectory())
        .map((e) => join(path, e.name))
        .sort();
      const bundles: string[] = [];
      for (const dir of entries) if (await isFile(join(dir, DEVICE_JSON))) bundles.push(dir);
      if (bundles.length === 0) {
        throw new CredentialsError(
          `${given} holds no device bundle (no ${DEVICE_JSON} in it or in its subdirectories); ` +
            'write one with: npm run cli -- export-credentials <plantId> <dir>',
        );
      }
      directories.push(...bundles);
    }
  }
  const bundles = await Promise.all(directories.map(loadBundle));
  const seen = new Map<string, string>();
  for (const b of bundles) {
    const other = seen.get(b.plantId);
    // Two connections with one client id: the broker drops the older each time the other connects.
    if (other) throw new CredentialsError(`plant ${b.plantId} has two bundles: ${other} and ${b.source}`);
    seen.set(b.plantId, b.source);
  }
  return bundles;
}

/** `host`, `host:port` or `[v6]:port` → host and port (default 8883). */
export function parseMqttEndpoint(value: string): { host: string; port: number } {
  const text = value
    .trim()
    .replace(/^mqtts:\/\//, '')
    .replace(/\/$/, '');
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+))(?::(\d{1,5}))?$/.exec(text);
  const host = m?.[1] ?? m?.[2];
  const port = m?.[3] === undefined ? DEFAULT_MQTT_PORT : Number(m[3]);
  if (!host || !Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new CredentialsError(`MQTT endpoint ${JSON.stringify(value)} is not host[:port]`);
  }
  return { host, port };
}

export interface MqttPublisherOptions {
  /** Overrides every bundle's endpoint (e.g. a test broker). */
  endpoint?: { host: string; port: number } | undefined;
  /** CA certificates (PEM) the broker's certificate must chain to; default: Node's root store. */
  ca?: string | undefined;
  /** Give up on the first connection after this long (default 15 s). */
  connectTimeoutMs?: number;
  /** Delay between reconnection attempts after a drop (default 1 s). */
  reconnectPeriodMs?: number;
  keepaliveSeconds?: number;
  /** Unacknowledged publishes per connection (default 20). */
  maxInFlight?: number;
  maxPayloadBytes?: number;
  /** Progress and connection events, one line each; never key material. */
  log?: (line: string) => void;
  /** Each plant also syncs its classic shadow, as a device does (device-shadow.ts). */
  shadow?: boolean;
}

export interface PublisherStats extends ShadowStats {
  connections: number;
  /** Publishes handed to MQTT (QoS 1). */
  published: number;
  /** Publishes the broker acknowledged (PUBACK). */
  acked: number;
  /** Connections re-established after a drop. */
  reconnects: number;
  skippedOversized: number;
}

class PlantConnection {
  readonly client: MqttClient;
  readonly url: string;
  private lastError: string | undefined;
  private connectedOnce = false;

  constructor(
    readonly bundle: DeviceBundle,
    endpoint: { host: string; port: number },
    private readonly options: MqttPublisherOptions,
    private readonly stats: PublisherStats,
  ) {
    const host = endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host;
    this.url = `mqtts://${host}:${endpoint.port}`;
    const clientOptions: IClientOptions = {
      protocol: 'mqtts',
      host: endpoint.host,
      port: endpoint.port,
      protocolVersion: 4,
      clientId: bundle.clientId,
      clean: true,
      keepalive: options.keepaliveSeconds ?? 30,
      reconnectPeriod: options.reconnectPeriodMs ?? 1_000,
      connectTimeout: options.connectTimeoutMs ?? 15_000,
      cert: bundle.certificatePem,
      key: bundle.privateKeyPem,
      rejectUnauthorized: true,
      ...(options.ca ? { ca: options.ca } : {}),
      ...(endpoint.port === 443 ? { ALPNProtocols: [AWS_MQTT_ALPN_443] } : {}),
      manualConnect: true,
    };
    this.client = mqtt.connect(clientOptions);
    this.client.on('error', (error) => {
      this.lastError = describe(error);
      if (this.connectedOnce) this.log(`error: ${this.lastError}`);
    });
    this.client.on('offline', () => {
      if (this.connectedOnce)
        this.log(`connection lost${this.lastError ? ` (${this.lastError})` : ''}; reconnecting`);
    });
    this.client.on('connect', () => {
      if (this.connectedOnce) {
        this.stats.reconnects++;
        this.log('reconnected');
      }
      this.connectedOnce = true;
      this.lastError = undefined;
    });
  }

  private log(line: string): void {
    this.options.log?.(`mqtt ${this.bundle.clientId} ${this.url}: ${line}`);
  }

  /** The first connection: resolves on CONNACK, rejects on the first failure (no retry loop). */
  async connect(): Promise<void> {
    const timeoutMs = (this.options.connectTimeoutMs ?? 15_000) + 1_000;
    await new Promise<void>((resolveConnect, reject) => {
      const cleanup = () => {
        clearTimeout(timer);
        this.client.off('connect', onConnect);
        this.client.off('error', onError);
        this.client.off('close', onClose);
      };
      const fail = (reason: string) => {
        cleanup();
        this.client.end(true);
        reject(
          new Error(
            `plant ${this.bundle.plantId}: cannot connect to ${this.url} as ${this.bundle.clientId}: ${reason}`,
          ),
        );
      };
      const onConnect = () => {
        cleanup();
        resolveConnect();
      };
      const onError = (error: Error) => fail(describe(error));
      const onClose = () =>
        fail(
          this.lastError ??
            'the broker closed the connection before CONNACK (certificate refused or inactive, client id ' +
              'not allowed by the policy, or an endpoint of another account or region)',
        );
      const timer = setTimeout(() => fail(`no CONNACK within ${timeoutMs} ms`), timeoutMs);
      this.client.on('connect', onConnect);
      this.client.on('error', onError);
      this.client.on('close', onClose);
      this.client.connect();
      // Socket errors MQTT.js keeps to itself (ECONNREFUSED, ECONNRESET) still name the cause.
      this.client.stream?.on('error', (error: Error) => {
        this.lastError = describe(error);
      });
    });
  }

  /** Publishes in order, at most maxInFlight unacknowledged; resolves when all are acknowledged. */
  async publish(payloads: readonly string[]): Promise<number> {
    const topic = telemetryTopicFor(this.bundle.plantId);
    let next = 0;
    let acked = 0;
    const lane = async () => {
      while (next < payloads.length) {
        const payload = payloads[next++] as string;
        this.stats.published++;
        await this.client.publishAsync(topic, payload, { qos: 1 });
        this.stats.acked++;
        acked++;
      }
    };
    const lanes = Math.max(1, Math.min(this.options.maxInFlight ?? 20, payloads.length));
    await Promise.all(Array.from({ length: lanes }, lane));
    return acked;
  }

  async close(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.client.endAsync(false),
      new Promise<void>((r) => {
        timer = setTimeout(() => {
          this.client.end(true);
          r();
        }, 2_000);
      }),
    ]);
    clearTimeout(timer);
  }

  forceClose(): void {
    this.client.end(true);
  }
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  return code !== undefined && !error.message.includes(String(code))
    ? `${error.message} (${code})`
    : error.message;
}

/** One MQTT connection per plant; publishes simulator messages on their plant's connection. */
export class MqttFleetPublisher {
  readonly stats: PublisherStats = {
    connections: 0,
    published: 0,
    acked: 0,
    reconnects: 0,
    skippedOversized: 0,
    shadowDeltas: 0,
    shadowReports: 0,
    shadowRejected: 0,
  };
  private readonly connections = new Map<string, PlantConnection>();

  private constructor(private readonly options: MqttPublisherOptions) {}

  /** Connects every plant (in parallel); if any cannot connect, closes the others and throws. */
  static async connect(
    bundles: readonly DeviceBundle[],
    options: MqttPublisherOptions = {},
  ): Promise<MqttFleetPublisher> {
    const publisher = new MqttFleetPublisher(options);
    for (const bundle of bundles) {
      const endpoint =
        options.endpoint ?? (bundle.endpoint ? { host: bundle.endpoint, port: bundle.port } : undefined);
      if (!endpoint) {
        throw new CredentialsError(
          `${bundle.source}: device.json has no endpoint; pass one (--mqtt-endpoint)`,
        );
      }
      publisher.connections.set(
        bundle.plantId,
        new PlantConnection(bundle, endpoint, options, publisher.stats),
      );
    }
    const results = await Promise.allSettled([...publisher.connections.values()].map((c) => c.connect()));
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed.length > 0) {
      await publisher.close();
      const first = failed[0]?.reason as Error;
      throw new Error(
        failed.length === 1
          ? first.message
          : `${first.message} (and ${failed.length - 1} more plants could not connect)`,
      );
    }
    publisher.stats.connections = publisher.connections.size;
    for (const c of publisher.connections.values()) {
      const log = (line: string) => options.log?.(`mqtt ${c.bundle.clientId} ${line}`);
      log(`connected to ${c.url}`);
      // Telemetry goes on without it: a plant whose policy predates shadow topics still publishes.
      if (options.shadow)
        await DeviceShadow.start(c.client, c.bundle.clientId, publisher.stats, log).catch((error: unknown) =>
          log(`no shadow sync: ${(error as Error).message}`),
        );
    }
    return publisher;
  }

  get plantIds(): string[] {
    return [...this.connections.keys()];
  }

  /**
   * Publishes each message's device payload on its plant's connection (plants in parallel, each in
   * order). Resolves with how many the broker acknowledged, once all are; oversized ones are skipped.
   */
  async publish(messages: readonly SimMessage[]): Promise<number> {
    const byPlant = new Map<PlantConnection, string[]>();
    for (const m of messages) {
      const connection = this.connections.get(m.plantId);
      if (!connection) throw new Error(`no MQTT connection for plant ${m.plantId}`);
      if (Buffer.byteLength(m.payload) > (this.options.maxPayloadBytes ?? MAX_MQTT_PAYLOAD_BYTES)) {
        this.stats.skippedOversized++;
        continue;
      }
      const list = byPlant.get(connection) ?? [];
      list.push(m.payload);
      byPlant.set(connection, list);
    }
    const counts = await Promise.all(
      [...byPlant].map(([connection, payloads]) => connection.publish(payloads)),
    );
    return counts.reduce((a, b) => a + b, 0);
  }

  /** Graceful: DISCONNECT on every connection (forced after 2 s). */
  async close(): Promise<void> {
    await Promise.all([...this.connections.values()].map((c) => c.close()));
  }

  /** Drops every connection at once; unacknowledged publishes stay unacknowledged. */
  forceClose(): void {
    for (const c of this.connections.values()) c.forceClose();
  }
}
