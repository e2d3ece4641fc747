/**
 * Device simulator: realistic inverter telemetry, and what the telemetry rule makes of it.
 *
 * Each plant has a longitude (its solar noon) and a cloud cover that drifts; each inverter has a
 * rating. Irradiance follows a day curve (zero at night, a sine from 06:00 to 18:00 solar time);
 * module temperature follows irradiance and the ambient day curve; DC power falls 0.4 %/°C above
 * 25 °C; DC voltage sits near the maximum-power point and drops with heat; AC power is DC power
 * times a load-dependent efficiency; the inverter heats with load; energy_today accumulates and
 * resets at local midnight.
 *
 * Deterministic for a given seed, so tests can compute the exact rows to expect.
 */
import { createHash } from 'node:crypto';
import {
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { telemetryTopicFor } from '../iot/naming.js';
import { fifoDeduplicationId, ruleOutput } from './message.js';

export const POISON_KINDS = [
  'invalid_json',
  'missing_field',
  'bad_timestamp',
  'non_numeric_metric',
  'oversized_body',
] as const;
export type PoisonKind = (typeof POISON_KINDS)[number];

export type SimKind = 'reading' | 'duplicate' | PoisonKind;

export interface SimMessage {
  kind: SimKind;
  /** The SQS body: the rule's output (device JSON + plantId from the topic + topic). */
  body: string;
  /**
   * What the device publishes on `solar/<plantId>/data` (the MQTT payload): the device JSON, which
   * the rule turns into `body`. For the `invalid_json` poison, the device's truncated JSON.
   */
  payload: string;
  plantId: string;
  deviceId: string;
  /** What the device put in its payload (the FIFO deduplication id hashes this string). */
  timestamp: string;
  /** For a FIFO queue: one group per plant, and the seed's deduplication id. */
  groupId: string;
  deduplicationId: string;
  /** Metrics carried (valid readings and duplicates only). */
  metricCount: number;
}

export interface SimulatorOptions {
  plants: number;
  /** Inverters per plant. */
  devices: number;
  /** Probability that a reading is sent a second time (a duplicate delivery). */
  duplicates?: number;
  /** Probability that a poison message is sent after a reading. */
  malformed?: number;
  seed?: number;
  /** Simulated time of the first round (default: now). */
  start?: Date;
  /** Simulated time between two readings of one inverter (default 60 s). */
  stepMs?: number;
  /** Body size of the oversized poison (default 140 KiB: over the 128 KiB MQTT limit, under SQS's). */
  oversizedBytes?: number;
  /** Prefix of plant ids (default derived from the seed). */
  plantPrefix?: string;
  /**
   * The plants' ids, e.g. of provisioned plants whose certificates publish over MQTT (overrides
   * `plants` and `plantPrefix`; the random sequence is the same as for as many generated plants).
   */
  plantIds?: readonly string[];
}

/** mulberry32: small, fast, good enough for telemetry noise. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Plant {
  id: string;
  longitude: number;
  cloud: number;
}

interface Inverter {
  plant: Plant;
  id: string;
  ratedW: number;
  vmp: number;
  energyWh: number;
  day: number;
}

const round = (v: number, digits: number) => {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
};

export class TelemetrySimulator {
  readonly plants: Plant[];
  readonly inverters: Inverter[];
  private readonly random: () => number;
  private readonly startMs: number;
  private readonly stepMs: number;
  private cursor = 0;
  private readonly queue: SimMessage[] = [];
  readonly counts: Record<SimKind, number> = {
    reading: 0,
    duplicate: 0,
    invalid_json: 0,
    missing_field: 0,
    bad_timestamp: 0,
    non_numeric_metric: 0,
    oversized_body: 0,
  };
  /** processed_data rows the valid readings carry (one per metric). */
  expectedRows = 0;

  constructor(private readonly options: SimulatorOptions) {
    const seed = options.seed ?? Date.now() % 2 ** 31;
    this.random = prng(seed);
    this.startMs = (options.start ?? new Date()).getTime();
    this.stepMs = options.stepMs ?? 60_000;
    const prefix = options.plantPrefix ?? `sim${seed.toString(36)}`;
    this.plants = Array.from({ length: options.plantIds?.length ?? options.plants }, (_, i) => ({
      id: options.plantIds?.[i] ?? `${prefix}-plant-${String(i + 1).padStart(3, '0')}`,
      longitude: -120 + this.random() * 240,
      cloud: 0.7 + this.random() * 0.3,
    }));
    this.inverters = this.plants.flatMap((plant) =>
      Array.from({ length: options.devices }, (_, j) => ({
        plant,
        // Per-plant names, as installers give them: every plant has an inverter-01.
        id: `inverter-${String(j + 1).padStart(2, '0')}`,
        ratedW: [5_000, 10_000, 20_000, 36_000, 50_000, 60_000][Math.floor(this.random() * 6)] ?? 10_000,
        vmp: 560 + this.random() * 120,
        energyWh: 0,
        day: -1,
      })),
    );
  }

  /** The next message to send (readings round-robin over all inverters, plus injected extras). */
  next(): SimMessage {
    const queued = this.queue.shift();
    if (queued) return this.count(queued);
    const n = this.inverters.length;
    const inverter = this.inverters[this.cursor % n] as Inverter;
    const roundIndex = Math.floor(this.cursor / n);
    if (this.cursor % n === 0) for (const p of this.plants) this.driftClouds(p);
    this.cursor++;
    // Inverters of one round report spread over the step, as real devices do.
    const at =
      this.startMs + roundIndex * this.stepMs + Math.floor(((this.cursor - 1) % n) * (this.stepMs / n));
    const reading = this.reading(inverter, at);
    if (this.random() < (this.options.duplicates ?? 0)) this.queue.push(this.duplicateOf(reading));
    if (this.random() < (this.options.malformed ?? 0)) this.queue.push(this.poison(inverter, at));
    return this.count(reading);
  }

  private count(m: SimMessage): SimMessage {
    this.counts[m.kind]++;
    if (m.kind === 'reading') this.expectedRows += m.metricCount;
    return m;
  }

  private driftClouds(p: Plant): void {
    p.cloud = Math.min(1, Math.max(0.25, p.cloud + (this.random() - 0.5) * 0.1));
  }

  /** The device's payload, as it would publish it on solar/<plantId>/data. */
  devicePayload(
    inverter: Inverter,
    atMs: number,
    accumulate = true,
  ): { plantId: string; deviceId: string; timestamp: string; metrics: Record<string, number> } {
    const rnd = this.random;
    const solarHour = (((atMs / 3_600_000 + inverter.plant.longitude / 15) % 24) + 24) % 24;
    const sun = Math.max(0, Math.sin((Math.PI * (solarHour - 6)) / 12));
    const irradiance = 1000 * sun ** 1.3 * inverter.plant.cloud * (0.97 + rnd() * 0.03);
    const ambient = 14 + 9 * Math.sin((Math.PI * (solarHour - 9)) / 12) + rnd();
    const moduleTemp = ambient + (irradiance / 800) * 25;
    const pdc = Math.max(0, inverter.ratedW * (irradiance / 1000) * (1 - 0.004 * (moduleTemp - 25)));
    const producing = irradiance > 15;
    const vdc = producing
      ? inverter.vmp * (1 - 0.0035 * (moduleTemp - 25)) * (0.98 + rnd() * 0.04)
      : rnd() * 2;
    const idc = producing ? pdc / vdc : 0;
    const load = pdc / inverter.ratedW;
    const efficiency = producing ? 0.985 - 0.06 * Math.exp(-load * 12) : 0;
    const pac = pdc * efficiency;
    const day = Math.floor((atMs / 3_600_000 + inverter.plant.longitude / 15) / 24);
    if (day !== inverter.day) {
      inverter.day = day;
      inverter.energyWh = 0;
    }
    if (accumulate) inverter.energyWh += (pac * this.stepMs) / 3_600_000;
    return {
      plantId: inverter.plant.id,
      deviceId: inverter.id,
      timestamp: new Date(atMs).toISOString(),
      metrics: {
        voltage_dc: round(vdc, 1),
        current_dc: round(idc, 2),
        power_dc: Math.round(pdc),
        power_ac: Math.round(pac),
        temperature: round(ambient + 18 * load + 4, 1),
        irradiance: Math.round(irradiance),
        energy_today: round(inverter.energyWh / 1000, 3),
        frequency: round(50 + (rnd() - 0.5) * 0.04, 3),
      },
    };
  }

  private reading(inverter: Inverter, atMs: number): SimMessage {
    const payload = this.devicePayload(inverter, atMs);
    return this.message(
      'reading',
      ruleOutput(payload, inverter.plant.id),
      JSON.stringify(payload),
      inverter,
      payload.timestamp,
      Object.keys(payload.metrics).length,
    );
  }

  /**
   * The same reading again. Half are byte-identical (what an MQTT QoS 1 resend looks like; a FIFO
   * queue drops them), half carry the same instant written another way (+00:00 instead of Z), which
   * gets past FIFO deduplication and is caught by the message hash.
   */
  private duplicateOf(original: SimMessage): SimMessage {
    if (this.random() < 0.5) return { ...original, kind: 'duplicate' };
    const body = JSON.parse(original.body) as Record<string, unknown>;
    const payload = JSON.parse(original.payload) as Record<string, unknown>;
    const ts = original.timestamp.replace(/Z$/, '+00:00');
    body.timestamp = ts;
    payload.timestamp = ts;
    const topic = telemetryTopicFor(original.plantId);
    return {
      ...original,
      kind: 'duplicate',
      body: JSON.stringify(body),
      payload: JSON.stringify(payload),
      timestamp: ts,
      deduplicationId: fifoDeduplicationId(topic, ts, original.deviceId),
    };
  }

  private poison(inverter: Inverter, atMs: number): SimMessage {
    const kind = POISON_KINDS[Math.floor(this.random() * POISON_KINDS.length)] as PoisonKind;
    const payload: Record<string, unknown> = this.devicePayload(inverter, atMs + 1, false);
    const metrics = payload.metrics as Record<string, unknown>;
    let body: string;
    let devicePayload: string | undefined;
    switch (kind) {
      case 'invalid_json':
        body = ruleOutput(payload, inverter.plant.id).slice(0, -7);
        devicePayload = JSON.stringify(payload).slice(0, -7);
        break;
      case 'missing_field':
        delete payload.deviceId;
        body = ruleOutput(payload, inverter.plant.id);
        break;
      case 'bad_timestamp':
        payload.timestamp = 'yesterday at noon';
        body = ruleOutput(payload, inverter.plant.id);
        break;
      case 'non_numeric_metric':
        metrics.power_ac = 'N/A';
        body = ruleOutput(payload, inverter.plant.id);
        break;
      case 'oversized_body':
        payload.diagnostics = 'x'.repeat(this.options.oversizedBytes ?? 140 * 1024);
        body = ruleOutput(payload, inverter.plant.id);
        break;
    }
    const message = this.message(
      kind,
      body,
      devicePayload ?? JSON.stringify(payload),
      inverter,
      new Date(atMs + 1).toISOString(),
      0,
    );
    // Poison never shares a deduplication id with a reading.
    message.deduplicationId = `poison-${createHash('sha256').update(body).digest('hex')}`;
    return message;
  }

  private message(
    kind: SimKind,
    body: string,
    payload: string,
    inverter: Inverter,
    timestamp: string,
    metricCount: number,
  ): SimMessage {
    return {
      kind,
      body,
      payload,
      plantId: inverter.plant.id,
      deviceId: inverter.id,
      timestamp,
      groupId: inverter.plant.id,
      deduplicationId: fifoDeduplicationId(telemetryTopicFor(inverter.plant.id), timestamp, inverter.id),
      metricCount,
    };
  }
}

/** SQS limits a SendMessageBatch to 10 entries and 256 KiB in total. */
const BATCH_BYTES = 250 * 1024;

/**
 * Sends messages as the telemetry rule would (SendMessageBatch, 10 at a time, within the size
 * limit). On a FIFO queue each carries its plant's group id and the seed's deduplication id.
 * Returns how many SQS accepted; throws if SQS refused any.
 */
export async function sendToQueue(
  sqs: SQSClient,
  queueUrl: string,
  messages: readonly SimMessage[],
  options: { fifo?: boolean; concurrency?: number } = {},
): Promise<number> {
  const fifo = options.fifo ?? queueUrl.endsWith('.fifo');
  const batches: SendMessageBatchRequestEntry[][] = [];
  let current: SendMessageBatchRequestEntry[] = [];
  let bytes = 0;
  messages.forEach((m, i) => {
    const size = Buffer.byteLength(m.body);
    if (current.length === 10 || (current.length > 0 && bytes + size > BATCH_BYTES)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push({
      Id: String(i),
      MessageBody: m.body,
      ...(fifo ? { MessageGroupId: m.groupId, MessageDeduplicationId: m.deduplicationId } : {}),
    });
    bytes += size;
  });
  if (current.length > 0) batches.push(current);

  let sent = 0;
  // FIFO: one batch at a time keeps each group's order; standard queues send in parallel.
  const workers = fifo ? 1 : Math.max(1, options.concurrency ?? 4);
  const run = async () => {
    for (let batch = batches.shift(); batch; batch = batches.shift()) {
      const res = await sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: batch }));
      if (res.Failed?.length) {
        throw new Error(
          `SQS refused ${res.Failed.length} messages: ${res.Failed.map((f) => `${f.Code} ${f.Message}`).join('; ')}`,
        );
      }
      sent += res.Successful?.length ?? 0;
    }
  };
  await Promise.all(Array.from({ length: workers }, run));
  return sent;
}
