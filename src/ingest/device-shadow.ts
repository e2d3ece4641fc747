/**
 * The simulator's plant as a device with a classic shadow, over its MQTT connection, as the AWS
 * IoT developer guide has a device do it (device-shadow-data-flow, device-shadow-mqtt):
 *
 * - subscribes to its own thing's `get/accepted`, `get/rejected`, `update/accepted`,
 *   `update/rejected` and `update/delta` (what the device policy lets it receive) before it
 *   publishes anything;
 * - publishes `get` at connect and after every reconnection: the session is clean and the
 *   service's answers are not queued for an offline device, so a delta published while it was away
 *   is only found in the current document's `state.delta`;
 * - applies the desired values of a delta (from `get/accepted` or `update/delta`) to its settings
 *   and reports exactly those, `{"state":{"reported":{...}},"clientToken":...}`, without a version:
 *   a report must not be refused because the app wrote meanwhile (its delta follows anyway);
 * - acts on a document only if its version is newer than the last it saw ("a client can decide
 *   not to act on a received message if the message has a lower version", device-shadow-document),
 *   so a delta overtaken by a newer `get` answer is not applied twice, or over a newer value;
 *   "the last it saw" starts over at each connect, whose `get` answer is the current document
 *   (a refused report left its delta there at the same version; a shadow deleted more than 48
 *   hours ago starts over at version 0, device-shadow-data-flow);
 * - a report refused for a reason that passes (429 throttling, 5xx) is made again from a fresh
 *   `get`, after a pause that doubles up to a minute; any other refusal waits for the next connect.
 *
 * What "apply" means for a datalogger (writing an inverter's power limit register) is out of the
 * simulator's scope: it keeps the values and reports them, which is what the cloud side sees.
 */
import { randomBytes } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { isStateObject, mergeShadowState, shadowTopicPrefix } from '../iot/shadow-state.js';

type State = Record<string, unknown>;

export interface ShadowStats {
  /** Deltas applied (from update/delta, or the delta of the document read at connect). */
  shadowDeltas: number;
  /** Reports the shadow service accepted (update/accepted with this device's client token). */
  shadowReports: number;
  /** Its requests the shadow service refused (update/rejected; get/rejected but for "no shadow yet"). */
  shadowRejected: number;
}

const RETRY_FIRST_MS = 500;
const RETRY_MAX_MS = 60_000;
/** Refusals that may pass on their own (device-shadow-error-messages: 429 throttling, 500, 503). */
const retryable = (code: unknown) => code === 429 || (typeof code === 'number' && code >= 500);

const ANSWERS = ['get/accepted', 'get/rejected', 'update/accepted', 'update/rejected', 'update/delta'];

export class DeviceShadow {
  /** The settings the device runs with: desired values it applied, and what it had reported before. */
  settings: State = {};
  private version = 0;
  private sequence = 0;
  private readonly tokenPrefix = `sim-${randomBytes(4).toString('hex')}-`;
  private readonly prefix: string;
  /** Pause before the next retry of a refused report (doubles, reset by an accepted one). */
  private retryMs = RETRY_FIRST_MS;
  private retry: NodeJS.Timeout | undefined;

  private constructor(
    private readonly client: MqttClient,
    thingName: string,
    private readonly stats: ShadowStats,
    private readonly log: (line: string) => void,
  ) {
    this.prefix = shadowTopicPrefix(thingName);
  }

  /**
   * Subscribes, then reads the shadow (and again on each reconnection). Throws if the broker
   * refuses the subscription, e.g. a policy from before devices could use their shadow.
   */
  static async start(
    client: MqttClient,
    thingName: string,
    stats: ShadowStats,
    log: (line: string) => void,
  ): Promise<DeviceShadow> {
    const shadow = new DeviceShadow(client, thingName, stats, log);
    client.on('message', (topic, payload) => shadow.onMessage(topic, payload));
    await shadow.sync();
    // Registered after the first connection: runs on each reconnection.
    client.on('close', () => shadow.cancelRetry());
    client.on('connect', () => {
      shadow.sync().catch((error: unknown) => log(`shadow: ${(error as Error).message}`));
    });
    return shadow;
  }

  /**
   * Subscribes (again after a reconnection: MQTT.js's own resubscription may come after a publish),
   * then asks for the current document.
   */
  private async sync(): Promise<void> {
    try {
      await this.client.subscribeAsync(
        ANSWERS.map((a) => `${this.prefix}/${a}`),
        { qos: 1 },
      );
    } catch (error) {
      throw new Error(
        `the broker refused the shadow topics ${this.prefix}/{${ANSWERS.join(',')}} (${(error as Error).message}); ` +
          "the device's IoT policy does not grant them (one written before solar-iot granted shadow topics?)",
      );
    }
    this.reread();
  }

  /** Asks for the current document and acts on its delta, whatever version was seen before. */
  private reread(): void {
    this.version = 0;
    this.request('get', {});
  }

  private cancelRetry(): void {
    clearTimeout(this.retry);
    this.retry = undefined;
  }

  private request(op: 'get' | 'update', body: State): void {
    const clientToken = `${this.tokenPrefix}${++this.sequence}`;
    this.client.publish(`${this.prefix}/${op}`, JSON.stringify({ ...body, clientToken }), { qos: 1 });
  }

  private ours(doc: State): boolean {
    return typeof doc.clientToken === 'string' && doc.clientToken.startsWith(this.tokenPrefix);
  }

  private onMessage(topic: string, payload: Buffer): void {
    if (!topic.startsWith(`${this.prefix}/`)) return;
    const answer = topic.slice(this.prefix.length + 1);
    let doc: State;
    try {
      doc = JSON.parse(payload.toString('utf8')) as State;
    } catch {
      this.log(`shadow: ${answer} is not JSON; ignored`);
      return;
    }
    const version = typeof doc.version === 'number' ? doc.version : 0;
    const state = isStateObject(doc.state) ? doc.state : {};
    switch (answer) {
      case 'get/accepted':
        if (version <= this.version) return;
        this.settings = mergeShadowState(this.settings, isStateObject(state.reported) ? state.reported : {});
        this.apply(isStateObject(state.delta) ? state.delta : {}, version);
        return;
      case 'update/delta':
        if (version > this.version) this.apply(state, version);
        return;
      case 'update/accepted':
        // Only its own: the app's update is accepted at the version its delta then carries.
        if (!this.ours(doc)) return;
        this.version = Math.max(this.version, version);
        this.stats.shadowReports++;
        this.retryMs = RETRY_FIRST_MS;
        return;
      case 'get/rejected':
      case 'update/rejected':
        // get/rejected 404 is no shadow yet: nothing desired, nothing to do.
        if (answer === 'get/rejected' && doc.code === 404) return;
        if (!this.ours(doc)) return;
        this.stats.shadowRejected++;
        this.log(`shadow: ${answer}: ${String(doc.code)} ${String(doc.message)}`);
        if (answer === 'update/rejected' && retryable(doc.code) && !this.retry) {
          this.retry = setTimeout(() => {
            this.retry = undefined;
            if (this.client.connected) this.reread();
          }, this.retryMs);
          this.retry.unref();
          this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
        }
    }
  }

  private apply(delta: State, version: number): void {
    this.version = version;
    if (Object.keys(delta).length === 0) return;
    this.settings = mergeShadowState(this.settings, delta);
    this.stats.shadowDeltas++;
    this.log(`shadow: version ${version}: applied ${JSON.stringify(delta)}; reporting it`);
    this.request('update', { state: { reported: delta } });
  }
}
