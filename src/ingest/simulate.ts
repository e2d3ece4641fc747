/**
 * `npm run simulate -- --plants N --devices M --rate R [--duplicates 0.1] [--malformed 0.05] [--fifo]`
 * `npm run simulate -- --credentials <bundles> --devices M --rate R [--mqtt-endpoint host[:port]] [--ca file]`
 *
 * Transport `sqs` (default): sends simulated inverter telemetry to the telemetry queue exactly as
 * the shared IoT rule (`SELECT *, topic(2) AS plantId, topic() AS topic FROM 'solar/+/data'`) would
 * deliver it: moto has no rules engine, so locally the simulator plays both the devices and the rule.
 *
 * Transport `mqtt` (default when --credentials is given): the devices publish as real ones do,
 * over MQTT with mutual TLS, one connection per plant, with the bundles `export-credentials` wrote
 * (certificate, key, client id = thing name), to `solar/<plantId>/data` with QoS 1 (mqtt-publisher.ts),
 * and each plant keeps its classic shadow in sync: applies the desired state, reports it (device-shadow.ts).
 * Endpoint: --mqtt-endpoint, else each bundle's device.json, else AWS_IOT_ENDPOINT, else
 * DescribeEndpoint(iot:Data-ATS). The broker's certificate is checked against --ca, else Node's
 * root store (which holds Amazon Root CA 1, the bundle's AmazonRootCA1.pem).
 *
 * Queue: --queue-url, else AWS_SQS_QUEUE_URL, else `solar-plant-data` on AWS_ENDPOINT_URL
 * (default http://127.0.0.1:5000, the moto of `npm start`). --fifo sends to `<queue>.fifo`
 * (created on an emulator if missing) with MessageGroupId = plant id and the seed's
 * MessageDeduplicationId md5(topic)-md5(timestamp)-md5(deviceId), so SQS drops resends (layer 1).
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { DescribeEndpointCommand, IoTClient } from '@aws-sdk/client-iot';
import { CreateQueueCommand, GetQueueUrlCommand, QueueDoesNotExist, SQSClient } from '@aws-sdk/client-sqs';
import { z } from 'zod';
import { applyStackState } from '../app/stack-state.js';
import {
  CredentialsError,
  type DeviceBundle,
  loadDeviceBundles,
  MqttFleetPublisher,
  parseMqttEndpoint,
} from './mqtt-publisher.js';
import { POISON_KINDS, type SimMessage, sendToQueue, TelemetrySimulator } from './simulator.js';

const USAGE = `Usage: npm run simulate -- [options]
  --plants N          plants (default 3), made up: sim<seed>-plant-001, ...
  --plant ID          a plant of the API instead (repeatable; \`npm run cli -- telemetry ID\` reads
                      its readings back)
  --devices M         inverters per plant (default 4)
  --rate R            messages per second, all plants together (default 10)
  --count C           stop after C messages (default: until Ctrl-C)
  --duplicates P      probability 0..1 that a reading is sent twice (default 0)
  --malformed P       probability 0..1 of a poison message after a reading (default 0)
  --transport T       sqs (default) or mqtt (default when --credentials is given)
SQS transport (what the IoT rule delivers; locally, since moto has no rules engine):
  --fifo              send to the FIFO twin of the queue (<name>.fifo), with group and deduplication ids
  --queue-url URL     target queue (default AWS_SQS_QUEUE_URL, or solar-plant-data on the emulator)
MQTT transport (devices publishing with mutual TLS, one connection per plant, QoS 1; each plant
applies its shadow's desired state, from shadow/get at connect and update/delta, and reports it):
  --credentials PATH  device bundle(s) from export-credentials: a bundle directory, its device.json,
                      or a directory of bundle directories; repeatable. One plant per bundle
                      (replaces --plants); client id = the plant's thing name
  --mqtt-endpoint H   host[:port] (default: the bundle's endpoint, else AWS_IOT_ENDPOINT, else
                      DescribeEndpoint iot:Data-ATS; port 8883)
  --ca FILE           CA certificates (PEM) for the broker's certificate (default: Node's root store,
                      which has Amazon Root CA 1)
  --start ISO         simulated time of the first reading (default now)
  --step-seconds S    simulated seconds between two readings of one inverter
                      (default: real time, plants*devices/rate); faster than real time runs
                      ahead of the clock: the consumer quarantines readings more than
                      INGEST_MAX_FUTURE_SECONDS ahead, so give a --start in the past
  --seed N            random seed (default: time based)
Environment: AWS_REGION, AWS_ENDPOINT_URL (emulator; default http://127.0.0.1:5000 when no queue URL
is given), AWS credentials from the SDK default chain.`;

const probability = (flag: string) =>
  z.coerce
    .number({ error: `--${flag} is not a number` })
    .min(0, { error: `--${flag} must be between 0 and 1` })
    .max(1, { error: `--${flag} must be between 0 and 1` });
const positive = (flag: string, max: number) =>
  z.coerce
    .number({ error: `--${flag} is not a number` })
    .positive({ error: `--${flag} must be positive` })
    .max(max, { error: `--${flag} must be at most ${max}` });

const Options = z.object({
  plants: positive('plants', 10_000).int({ error: '--plants must be a whole number' }).default(3),
  devices: positive('devices', 1_000).int({ error: '--devices must be a whole number' }).default(4),
  rate: positive('rate', 100_000).default(10),
  count: positive('count', 1e9).int({ error: '--count must be a whole number' }).optional(),
  duplicates: probability('duplicates').default(0),
  malformed: probability('malformed').default(0),
  fifo: z.boolean().optional(),
  'queue-url': z.url({ error: '--queue-url is not a URL' }).optional(),
  transport: z.enum(['sqs', 'mqtt'], { error: '--transport must be sqs or mqtt' }).optional(),
  credentials: z.array(z.string()).optional(),
  plant: z.array(z.string().min(1, { error: '--plant needs a plant id' })).optional(),
  'mqtt-endpoint': z.string().optional(),
  ca: z.string().optional(),
  start: z.iso
    .datetime({ offset: true, error: '--start is not an ISO date-time such as 2024-06-21T00:00:00Z' })
    .optional(),
  'step-seconds': positive('step-seconds', 86_400).optional(),
  seed: z.coerce
    .number({ error: '--seed is not a number' })
    .int({ error: '--seed must be a whole number' })
    .optional(),
});

function fail(message: string): never {
  process.stderr.write(`simulate: ${message}\n\n${USAGE}\n`);
  process.exit(2);
}

function parseOptions() {
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({
      options: {
        plants: { type: 'string' },
        devices: { type: 'string' },
        rate: { type: 'string' },
        count: { type: 'string' },
        duplicates: { type: 'string' },
        malformed: { type: 'string' },
        fifo: { type: 'boolean' },
        'queue-url': { type: 'string' },
        transport: { type: 'string' },
        credentials: { type: 'string', multiple: true },
        plant: { type: 'string', multiple: true },
        'mqtt-endpoint': { type: 'string' },
        ca: { type: 'string' },
        start: { type: 'string' },
        'step-seconds': { type: 'string' },
        seed: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    fail(err instanceof Error ? err.message : String(err));
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const parsed = Options.safeParse(values);
  if (!parsed.success) fail(parsed.error.issues.map((i) => i.message).join('\n'));
  const opts = parsed.data;
  const transport = opts.transport ?? (opts.credentials ? 'mqtt' : 'sqs');
  if (transport === 'mqtt') {
    if (!opts.credentials)
      fail('--transport mqtt needs --credentials (device bundles from export-credentials)');
    if (opts.fifo || opts['queue-url']) fail('--fifo and --queue-url are for the SQS transport');
  } else if (opts['mqtt-endpoint'] || opts.ca) {
    fail('--mqtt-endpoint and --ca are for the MQTT transport');
  }
  if (opts.credentials && values.plants !== undefined) {
    fail('--plants cannot be combined with --credentials: there is one plant per bundle');
  }
  if (opts.plant && (opts.credentials || values.plants !== undefined)) {
    fail('--plant cannot be combined with --plants or --credentials (whose bundles name their plants)');
  }
  if (opts['mqtt-endpoint']) {
    try {
      parseMqttEndpoint(opts['mqtt-endpoint']);
    } catch (error) {
      fail(`--mqtt-endpoint: ${(error as Error).message}`);
    }
  }
  return { ...opts, fifo: opts.fifo ?? false, transport };
}

/** Where the bundles' devices connect: the flag, else each bundle's own, else the account's ATS endpoint. */
async function mqttEndpointFor(
  flag: string | undefined,
  bundles: readonly DeviceBundle[],
): Promise<{ host: string; port: number } | undefined> {
  if (flag) return parseMqttEndpoint(flag);
  if (bundles.every((b) => b.endpoint)) return undefined;
  const env = process.env;
  if (env.AWS_IOT_ENDPOINT) return parseMqttEndpoint(env.AWS_IOT_ENDPOINT);
  const iot = new IoTClient({
    region: env.AWS_REGION || 'us-east-1',
    ...(env.AWS_ENDPOINT_URL ? { endpoint: env.AWS_ENDPOINT_URL } : {}),
  });
  try {
    const { endpointAddress } = await iot.send(new DescribeEndpointCommand({ endpointType: 'iot:Data-ATS' }));
    if (!endpointAddress) throw new Error('DescribeEndpoint returned no address');
    return parseMqttEndpoint(endpointAddress);
  } catch (error) {
    return fail(
      `a bundle has no endpoint and DescribeEndpoint(iot:Data-ATS) failed (${(error as Error).message}); ` +
        'pass --mqtt-endpoint or set AWS_IOT_ENDPOINT',
    );
  } finally {
    iot.destroy();
  }
}

async function resolveQueue(
  sqs: SQSClient,
  explicit: string | undefined,
  fifo: boolean,
  emulator: boolean,
): Promise<string> {
  let url = explicit;
  if (!url) {
    if (!emulator) fail('no queue: pass --queue-url or set AWS_SQS_QUEUE_URL');
    url = await ensureQueue(sqs, 'solar-plant-data', false, emulator);
  }
  if (!fifo || url.endsWith('.fifo')) return url;
  const name = `${decodeURIComponent(url.split('/').pop() ?? 'solar-plant-data')}.fifo`;
  return ensureQueue(sqs, name, true, emulator);
}

async function ensureQueue(sqs: SQSClient, name: string, fifo: boolean, emulator: boolean): Promise<string> {
  try {
    const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: name }));
    if (QueueUrl) return QueueUrl;
  } catch (err) {
    if (!(err instanceof QueueDoesNotExist)) throw err;
  }
  if (!emulator)
    fail(`queue ${name} does not exist; create it (the simulator creates queues only on an emulator)`);
  const Attributes: Record<string, string> = fifo
    ? { FifoQueue: 'true', ContentBasedDeduplication: 'false' }
    : {};
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes }));
  if (!QueueUrl) throw new Error(`CreateQueue ${name} returned no URL`);
  return QueueUrl;
}

async function main(): Promise<void> {
  const opts = parseOptions();
  // The stack `npm start` runs (its moto port, queue): unless AWS_ENDPOINT_URL names another.
  await applyStackState();
  const bundles = opts.credentials
    ? await loadDeviceBundles(opts.credentials).catch((error: unknown) =>
        fail(error instanceof CredentialsError ? error.message : String(error)),
      )
    : undefined;
  if (opts.transport === 'mqtt') return runMqtt(opts, bundles as DeviceBundle[]);
  const env = process.env;
  const explicitQueue = opts['queue-url'] ?? (env.AWS_SQS_QUEUE_URL || undefined);
  const endpoint = env.AWS_ENDPOINT_URL || (explicitQueue ? undefined : 'http://127.0.0.1:5000');
  const emulator = endpoint !== undefined;
  const hasCredentials = Boolean(env.AWS_ACCESS_KEY_ID || env.AWS_PROFILE);
  const sqs = new SQSClient({
    region: env.AWS_REGION || 'us-east-1',
    ...(endpoint ? { endpoint } : {}),
    // moto accepts any key; real AWS goes through the default chain.
    ...(emulator && !hasCredentials ? { credentials: { accessKeyId: 'test', secretAccessKey: 'test' } } : {}),
  });
  const queueUrl = await resolveQueue(sqs, explicitQueue, opts.fifo, emulator).catch((err: unknown) =>
    fail(
      `cannot reach the queue (${err instanceof Error ? err.message : String(err)}); is \`npm start\` running?`,
    ),
  );
  const sim = simulatorFor(opts, bundles);
  process.stderr.write(
    `simulate: ${sim.plants.length} plants x ${opts.devices} inverters, ${opts.rate} msg/s -> ${queueUrl}${opts.fifo ? ' (FIFO)' : ''}\n`,
  );
  const { sent, seconds } = await run(opts, sim, (batch) =>
    sendToQueue(sqs, queueUrl, batch, { fifo: queueUrl.endsWith('.fifo') }),
  );
  process.stdout.write(
    `${JSON.stringify({ transport: 'sqs', sent, seconds, ...sim.counts, expectedProcessedRows: sim.expectedRows, queueUrl })}\n`,
  );
  sqs.destroy();
}

type Opts = ReturnType<typeof parseOptions>;

function simulatorFor(opts: Opts, bundles: readonly DeviceBundle[] | undefined): TelemetrySimulator {
  const plantIds = bundles?.map((b) => b.plantId) ?? opts.plant;
  const plants = plantIds?.length ?? opts.plants;
  return new TelemetrySimulator({
    plants,
    ...(plantIds ? { plantIds } : {}),
    devices: opts.devices,
    duplicates: opts.duplicates,
    malformed: opts.malformed,
    ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
    ...(opts.start ? { start: new Date(opts.start) } : {}),
    stepMs: (opts['step-seconds'] ?? (plants * opts.devices) / opts.rate) * 1000,
  });
}

/** Paces `send` at --rate until --count or a signal; `send` returns how many were delivered. */
async function run(
  opts: Opts,
  sim: TelemetrySimulator,
  send: (batch: SimMessage[]) => Promise<number>,
  onSecondSignal?: () => void,
): Promise<{ sent: number; generated: number; seconds: number }> {
  let stop = false;
  const onSignal = () => {
    if (stop) onSecondSignal?.();
    stop = true;
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const started = performance.now();
  let generated = 0;
  let sent = 0;
  let lastReport = started;
  while (!stop && (opts.count === undefined || generated < opts.count)) {
    const due = Math.floor(((performance.now() - started) / 1000) * opts.rate) - generated;
    const want = Math.min(Math.max(due, 0), 100, opts.count === undefined ? 100 : opts.count - generated);
    if (want === 0) {
      await new Promise((r) => setTimeout(r, Math.max(5, Math.min(200, 1000 / opts.rate))));
      continue;
    }
    const batch: SimMessage[] = Array.from({ length: want }, () => sim.next());
    generated += batch.length;
    sent += await send(batch);
    if (performance.now() - lastReport > 5_000) {
      lastReport = performance.now();
      process.stderr.write(`simulate: ${sent} sent (${summary(sim)})\n`);
    }
  }
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  return { sent, generated, seconds: Number(((performance.now() - started) / 1000).toFixed(1)) };
}

async function runMqtt(opts: Opts, bundles: DeviceBundle[]): Promise<void> {
  const endpoint = await mqttEndpointFor(opts['mqtt-endpoint'], bundles);
  let ca: string | undefined;
  if (opts.ca) {
    ca = await readFile(opts.ca, 'utf8').catch((error: unknown) =>
      fail(`--ca ${opts.ca}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`),
    );
  }
  const sim = simulatorFor(opts, bundles);
  const perConnection = opts.rate / bundles.length;
  if (perConnection > 100) {
    process.stderr.write(
      `simulate: warning: ${perConnection.toFixed(0)} publishes/s per connection; AWS IoT Core allows 100\n`,
    );
  }
  const publisher = await MqttFleetPublisher.connect(bundles, {
    endpoint,
    ca,
    shadow: true,
    log: (line) => process.stderr.write(`simulate: ${line}\n`),
  }).catch((error: unknown) => {
    // Not a usage problem: the message names the plant, the endpoint and the cause.
    process.stderr.write(`simulate: ${(error as Error).message}\n`);
    process.exit(1);
  });
  process.stderr.write(
    `simulate: ${bundles.length} plants x ${opts.devices} inverters, ${opts.rate} msg/s -> MQTT (QoS 1, mutual TLS)\n`,
  );
  const { sent, generated, seconds } = await run(
    opts,
    sim,
    (batch) => publisher.publish(batch),
    () => {
      // A second Ctrl-C while acknowledgements are still awaited (e.g. the broker is unreachable).
      publisher.forceClose();
      process.stderr.write(`simulate: stopped; ${JSON.stringify(publisher.stats)}\n`);
      process.exit(130);
    },
  );
  await publisher.close();
  process.stdout.write(
    `${JSON.stringify({
      transport: 'mqtt',
      sent,
      generated,
      seconds,
      ...publisher.stats,
      ...sim.counts,
      expectedProcessedRows: sim.expectedRows,
      plants: bundles.map((b) => b.plantId),
    })}\n`,
  );
}

function summary(sim: TelemetrySimulator): string {
  const poison = POISON_KINDS.reduce((n, k) => n + sim.counts[k], 0);
  return `${sim.counts.reading} readings, ${sim.counts.duplicate} duplicates, ${poison} malformed`;
}

main().catch((err: unknown) => {
  process.stderr.write(`simulate: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
