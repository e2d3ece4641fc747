/**
 * AWS IoT's Device Shadow service for the test broker (mqtt.ts), as the developer guide describes
 * it (device-shadow-mqtt, device-shadow-data-flow, device-shadow-document, device-shadow-error-messages):
 *
 * - MQTT requests on `$aws/things/<thing>/shadow[/name/<name>]/{get,update,delete}`, answered on
 *   `.../get/accepted|rejected`, `.../update/accepted|rejected`, `.../delete/accepted|rejected`;
 *   an error answer is `{code, message, timestamp, clientToken}` (400 for invalid JSON, state or
 *   clientToken longer than 64 bytes, 404 for no shadow, 409 "Version conflict" when the request's
 *   version is not the shadow's);
 * - every accepted update, from MQTT or from the HTTP API (UpdateThingShadow), is published on
 *   `.../update/accepted` and `.../update/documents` (`previous` and `current` state, metadata and
 *   version) and, when it set desired state and desired then differs from reported, on
 *   `.../update/delta` with every differing desired key (not only the request's) and their
 *   metadata; a request's clientToken comes back in each of its answers; an HTTP error publishes
 *   nothing;
 * - the broker delivers the answers only to clients whose policy allows iot:Receive on them.
 *
 * One source of truth: moto. The service keeps no shadow of its own: it reads and writes the
 * shadow in moto through the IoT data plane (versions, merging and `null` removal are moto's), so
 * `GET /plants/{id}/shadow`, which the product serves from moto, shows what a device reported
 * over MQTT. The product's HTTP calls reach moto through this service's `endpoint`, an HTTP front
 * that forwards every request to moto unchanged (give it to the product as AWS_ENDPOINT_URL): on
 * AWS the HTTP shadow API and the MQTT topics are one service, so an UpdateThingShadow must
 * produce the same MQTT messages as an update over MQTT, and only a writer in the path of both
 * sees both. Updates of one shadow are serialized here, so `previous` and `current` are the
 * documents just before and after that update. A write to moto that bypasses the front (a test
 * calling moto directly) publishes nothing, as the service cannot see it.
 */
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  DeleteThingShadowCommand,
  GetThingShadowCommand,
  IoTDataPlaneClient,
  UpdateThingShadowCommand,
} from '@aws-sdk/client-iot-data-plane';
import { isStateObject, shadowDelta, shadowTopicPrefix } from '../../src/iot/shadow-state.js';
import type { AwsClientConfig } from './moto.js';
import type { TlsBroker } from './mqtt.js';

type Json = Record<string, unknown>;

interface Shadow {
  thingName: string;
  shadowName: string | undefined;
  /** The topics' prefix, `$aws/things/<thing>/shadow[/name/<name>]`. */
  prefix: string;
}

class ShadowError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

const REQUEST_TOPIC = /^\$aws\/things\/([^/]+)\/shadow(?:\/name\/([^/]+))?\/(get|update|delete)$/;
const REQUEST_FILTERS = ['get', 'update', 'delete'].flatMap((op) => [
  `$aws/things/+/shadow/${op}`,
  `$aws/things/+/shadow/name/+/${op}`,
]);
const HTTP_SHADOW_PATH = /^\/things\/([^/]+)\/shadow$/;
const now = () => Math.floor(Date.now() / 1000);

/** What the developer guide's error table says of a request document, or undefined if it is fine. */
function invalidUpdate(request: Json): string | undefined {
  if (!('state' in request)) return 'Missing required node: state';
  const { state, version } = request;
  if (!isStateObject(state)) return 'State node must be an object';
  for (const key of Object.keys(state)) {
    if (key !== 'desired' && key !== 'reported') return 'State contains an invalid node';
    const section = state[key];
    if (section !== null && !isStateObject(section))
      return `${key === 'desired' ? 'Desired' : 'Reported'} node must be an object`;
  }
  if (version !== undefined && !(Number.isInteger(version) && (version as number) >= 0))
    return 'Invalid version';
  return undefined;
}

/** The desired metadata of the delta's keys ("its values are equal to the metadata in the desired field"). */
function metadataOf(delta: Json, desiredMetadata: unknown): Json {
  const meta = isStateObject(desiredMetadata) ? desiredMetadata : {};
  return Object.fromEntries(
    Object.entries(delta).map(([k, v]) => [k, isStateObject(v) ? metadataOf(v, meta[k]) : meta[k]]),
  );
}

/** A document as `update/documents` carries it: state without delta, metadata, version. */
function documentOf(doc: Json): Json {
  const { delta: _delta, ...state } = (doc.state ?? {}) as Json;
  return { state, metadata: doc.metadata ?? {}, version: doc.version };
}

export class ShadowService {
  /** Every answer published, in order. */
  readonly published: { topic: string; payload: Json }[] = [];
  /**
   * Fault injection: the next MQTT updates are refused with this error instead of being applied,
   * as AWS does under load (429 "Too Many Requests", 500 "Internal service failure").
   */
  private failures: { code: number; message: string }[] = [];
  private readonly queues = new Map<string, Promise<unknown>>();
  private broker: TlsBroker | undefined;

  private constructor(
    private readonly data: IoTDataPlaneClient,
    private readonly moto: URL,
    private readonly server: Server,
  ) {}

  /** In front of this moto (awsClientConfig()); the product is then given `endpoint` instead. */
  static async start(moto: AwsClientConfig): Promise<ShadowService> {
    const data = new IoTDataPlaneClient(moto);
    let self: ShadowService | undefined;
    const server = createServer((req, res) => {
      (self as ShadowService).onHttp(req, res).catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(502);
        res.end(String(error));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    self = new ShadowService(data, new URL(moto.endpoint), server);
    return self;
  }

  /** The HTTP front for the product's AWS clients (AWS_ENDPOINT_URL). */
  get endpoint(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Answers the shadow requests the broker's clients publish. */
  async serve(broker: TlsBroker): Promise<this> {
    this.broker = broker;
    for (const filter of REQUEST_FILTERS)
      await broker.serveTopic(filter, (topic, payload) => {
        this.onMqtt(topic, payload).catch((error: unknown) => {
          throw new Error(`shadow service: ${topic}: ${String(error)}`);
        });
      });
    return this;
  }

  /** Refuses the next `count` updates over MQTT with `code` (fault injection). */
  failNextUpdates(count: number, code: number, message: string): void {
    for (let i = 0; i < count; i++) this.failures.push({ code, message });
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
    this.data.destroy();
  }

  private async answer(topic: string, payload: Json): Promise<void> {
    this.published.push({ topic, payload });
    await this.broker?.publishAsService(topic, JSON.stringify(payload));
  }

  /** One update or delete of a shadow at a time, in arrival order. */
  private serialized<T>(shadow: Shadow, work: () => Promise<T>): Promise<T> {
    const key = `${shadow.thingName}\u0000${shadow.shadowName ?? ''}`;
    const next = (this.queues.get(key) ?? Promise.resolve()).then(work, work);
    this.queues.set(
      key,
      next.catch(() => undefined),
    );
    return next;
  }

  private async read(shadow: Shadow): Promise<Json | undefined> {
    try {
      const out = await this.data.send(
        new GetThingShadowCommand({ thingName: shadow.thingName, shadowName: shadow.shadowName }),
      );
      return JSON.parse(Buffer.from(out.payload ?? []).toString('utf8')) as Json;
    } catch (error) {
      if ((error as Error).name === 'ResourceNotFoundException') return undefined;
      throw error;
    }
  }

  /**
   * An update through `write` (given the document before it; it returns moto's answer, the
   * accepted document, or undefined when moto refused), then its MQTT messages.
   */
  private update(
    shadow: Shadow,
    req: Json,
    write: (previous: Json | undefined) => Promise<Json | undefined>,
  ): Promise<void> {
    return this.serialized(shadow, async () => {
      const previous = await this.read(shadow);
      const accepted = await write(previous);
      if (!accepted) return;
      const current = (await this.read(shadow)) ?? {};
      const token = typeof req.clientToken === 'string' ? { clientToken: req.clientToken } : {};
      const timestamp = now();
      await this.answer(`${shadow.prefix}/update/accepted`, { ...accepted, ...token });
      const { desired, reported } = (current.state ?? {}) as { desired?: Json; reported?: Json };
      const delta = shadowDelta(desired ?? {}, reported ?? {});
      if (isStateObject(req.state) && isStateObject(req.state.desired) && Object.keys(delta).length > 0) {
        const metadata = metadataOf(delta, (current.metadata as Json | undefined)?.desired);
        await this.answer(`${shadow.prefix}/update/delta`, {
          state: delta,
          metadata,
          version: current.version,
          timestamp,
          ...token,
        });
      }
      await this.answer(`${shadow.prefix}/update/documents`, {
        ...(previous ? { previous: documentOf(previous) } : {}),
        current: documentOf(current),
        timestamp,
        ...token,
      });
    });
  }

  private async onMqtt(topic: string, payload: Buffer): Promise<void> {
    const match = REQUEST_TOPIC.exec(topic);
    if (!match) return;
    const [, thingName, shadowName, op] = match as unknown as [string, string, string | undefined, string];
    const shadow: Shadow = { thingName, shadowName, prefix: topic.slice(0, -op.length - 1) };
    let req: Json = {};
    const text = payload.toString('utf8');
    const reject = (code: number, message: string) =>
      this.answer(`${shadow.prefix}/${op}/rejected`, {
        code,
        message,
        timestamp: now(),
        ...(typeof req.clientToken === 'string' ? { clientToken: req.clientToken } : {}),
      });
    if (text.trim() !== '') {
      try {
        req = JSON.parse(text) as Json;
      } catch {
        return reject(400, 'Invalid JSON');
      }
      if (!isStateObject(req)) return reject(400, 'Invalid JSON');
    }
    const { clientToken } = req;
    if (
      clientToken !== undefined &&
      (typeof clientToken !== 'string' || Buffer.byteLength(clientToken) > 64)
    ) {
      req = {};
      return reject(400, 'Invalid clientToken');
    }
    try {
      if (op === 'get') return await this.get(shadow, req);
      if (op === 'delete') return await this.delete(shadow, req);
      const invalid = invalidUpdate(req);
      if (invalid) return await reject(400, invalid);
      const failure = this.failures.shift();
      if (failure) return await reject(failure.code, failure.message);
      await this.update(shadow, req, async (previous) => {
        // moto checks the version only of a shadow that exists (and fails with a 500 otherwise).
        if (req.version !== undefined && previous?.version !== req.version)
          throw new ShadowError(409, 'Version conflict');
        const out = await this.data.send(
          new UpdateThingShadowCommand({
            thingName,
            shadowName,
            payload: Buffer.from(
              JSON.stringify({
                state: req.state,
                ...(req.version !== undefined ? { version: req.version } : {}),
              }),
            ),
          }),
        );
        return JSON.parse(Buffer.from(out.payload ?? []).toString('utf8')) as Json;
      });
    } catch (error) {
      const e = error as Error;
      if (e instanceof ShadowError) return reject(e.code, e.message);
      if (e.name === 'ConflictException') return reject(409, 'Version conflict');
      if (e.name === 'ResourceNotFoundException') return reject(404, 'Thing not found');
      if (e.name === 'InvalidRequestException') return reject(400, e.message);
      return reject(500, 'Internal service failure');
    }
  }

  private async get(shadow: Shadow, req: Json): Promise<void> {
    const doc = await this.read(shadow);
    if (!doc)
      throw new ShadowError(404, `No shadow exists with name: '${shadow.shadowName ?? shadow.thingName}'`);
    const token = typeof req.clientToken === 'string' ? { clientToken: req.clientToken } : {};
    await this.answer(`${shadow.prefix}/get/accepted`, { ...doc, timestamp: now(), ...token });
  }

  private async delete(shadow: Shadow, req: Json): Promise<void> {
    await this.serialized(shadow, async () => {
      if (!(await this.read(shadow)))
        throw new ShadowError(404, `No shadow exists with name: '${shadow.shadowName ?? shadow.thingName}'`);
      const out = await this.data.send(
        new DeleteThingShadowCommand({ thingName: shadow.thingName, shadowName: shadow.shadowName }),
      );
      const { version } = JSON.parse(Buffer.from(out.payload ?? []).toString('utf8')) as Json;
      const token = typeof req.clientToken === 'string' ? { clientToken: req.clientToken } : {};
      await this.answer(`${shadow.prefix}/delete/accepted`, { version, timestamp: now(), ...token });
    });
  }

  /** The HTTP front: everything to moto as it came; an accepted UpdateThingShadow is also published. */
  private async onHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const url = new URL(req.url ?? '/', 'http://front');
    const match = HTTP_SHADOW_PATH.exec(url.pathname);
    if (req.method !== 'POST' || !match) return this.reply(res, await this.forward(req, body));
    const thingName = decodeURIComponent(match[1] as string);
    const shadowName = url.searchParams.get('name') ?? undefined;
    const shadow: Shadow = { thingName, shadowName, prefix: shadowTopicPrefix(thingName, shadowName) };
    let request: Json = {};
    try {
      request = JSON.parse(body.toString('utf8')) as Json;
    } catch {
      // moto answers it with 400, and a refused update publishes nothing.
    }
    await this.update(shadow, isStateObject(request) ? request : {}, async () => {
      const answer = await this.forward(req, body);
      this.reply(res, answer);
      return answer.status === 200 ? (JSON.parse(answer.body.toString('utf8')) as Json) : undefined;
    });
  }

  private forward(
    req: IncomingMessage,
    body: Buffer,
  ): Promise<{ status: number; headers: IncomingMessage['headers']; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const out = request(
        {
          host: this.moto.hostname,
          port: this.moto.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: this.moto.host },
        },
        (answer) => {
          const chunks: Buffer[] = [];
          answer.on('data', (c: Buffer) => chunks.push(c));
          answer.on('end', () =>
            resolve({
              status: answer.statusCode ?? 502,
              headers: answer.headers,
              body: Buffer.concat(chunks),
            }),
          );
          answer.on('error', reject);
        },
      );
      out.on('error', reject);
      out.end(body);
    });
  }

  private reply(
    res: ServerResponse,
    answer: { status: number; headers: IncomingMessage['headers']; body: Buffer },
  ): void {
    const { 'transfer-encoding': _te, connection: _c, ...headers } = answer.headers;
    res.writeHead(answer.status, { ...headers, 'content-length': String(answer.body.length) });
    res.end(answer.body);
  }
}
