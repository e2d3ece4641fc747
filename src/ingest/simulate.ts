/**
 * `npm run simulate -- --plants N --devices M --rate R [--duplicates 0.1] [--malformed 0.05] [--fifo]`
 *
 * Sends simulated inverter telemetry to the telemetry queue exactly as the shared IoT rule
 * (`SELECT *, topic(2) AS plantId, topic() AS topic FROM 'solar/+/data'`) would deliver it:
 * moto has no rules engine, so locally the simulator plays both the devices and the rule.
 *
 * Against real AWS the devices would publish over MQTT with mutual TLS (the plant's exported
 * certificate and key, client id = the plant's thing name, ATS endpoint, port 8883) to
 * `solar/<plantId>/data`, and the rule would fill the (standard) queue. That MQTT mode is NOT
 * implemented here: nothing could test it on these machines (no IoT Core, no broker).
 *
 * Queue: --queue-url, else AWS_SQS_QUEUE_URL, else `solar-plant-data` on AWS_ENDPOINT_URL
 * (default http://127.0.0.1:5000, the moto of `npm start`). --fifo sends to `<queue>.fifo`
 * (created on an emulator if missing) with MessageGroupId = plant id and the seed's
 * MessageDeduplicationId md5(topic)-md5(timestamp)-md5(deviceId), so SQS drops resends (layer 1).
 */
import { parseArgs } from 'node:util';
import { CreateQueueCommand, GetQueueUrlCommand, QueueDoesNotExist, SQSClient } from '@aws-sdk/client-sqs';
import { z } from 'zod';
import { POISON_KINDS, type SimMessage, sendToQueue, TelemetrySimulator } from './simulator.js';

const USAGE = `Usage: npm run simulate -- [options]
  --plants N          plants (default 3)
  --devices M         inverters per plant (default 4)
  --rate R            messages per second, all plants together (default 10)
  --count C           stop after C messages (default: until Ctrl-C)
  --duplicates P      probability 0..1 that a reading is sent twice (default 0)
  --malformed P       probability 0..1 of a poison message after a reading (default 0)
  --fifo              send to the FIFO twin of the queue (<name>.fifo), with group and deduplication ids
  --queue-url URL     target queue (default AWS_SQS_QUEUE_URL, or solar-plant-data on the emulator)
  --start ISO         simulated time of the first reading (default now)
  --step-seconds S    simulated seconds between two readings of one inverter
                      (default: real time, plants*devices/rate)
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
  fifo: z.boolean().default(false),
  'queue-url': z.url({ error: '--queue-url is not a URL' }).optional(),
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
  return parsed.data;
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
  const fleet = opts.plants * opts.devices;
  const sim = new TelemetrySimulator({
    plants: opts.plants,
    devices: opts.devices,
    duplicates: opts.duplicates,
    malformed: opts.malformed,
    ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
    ...(opts.start ? { start: new Date(opts.start) } : {}),
    stepMs: (opts['step-seconds'] ?? fleet / opts.rate) * 1000,
  });
  process.stderr.write(
    `simulate: ${opts.plants} plants x ${opts.devices} inverters, ${opts.rate} msg/s -> ${queueUrl}${opts.fifo ? ' (FIFO)' : ''}\n`,
  );

  let stop = false;
  process.on('SIGINT', () => {
    stop = true;
  });
  process.on('SIGTERM', () => {
    stop = true;
  });
  const started = performance.now();
  let sent = 0;
  let lastReport = started;
  while (!stop && (opts.count === undefined || sent < opts.count)) {
    const due = Math.floor(((performance.now() - started) / 1000) * opts.rate) - sent;
    const want = Math.min(Math.max(due, 0), 100, opts.count === undefined ? 100 : opts.count - sent);
    if (want === 0) {
      await new Promise((r) => setTimeout(r, Math.max(5, Math.min(200, 1000 / opts.rate))));
      continue;
    }
    const batch: SimMessage[] = Array.from({ length: want }, () => sim.next());
    sent += await sendToQueue(sqs, queueUrl, batch, { fifo: queueUrl.endsWith('.fifo') });
    if (performance.now() - lastReport > 5_000) {
      lastReport = performance.now();
      process.stderr.write(`simulate: ${sent} sent (${summary(sim)})\n`);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(
    `${JSON.stringify({ sent, seconds: Number(seconds.toFixed(1)), ...sim.counts, expectedProcessedRows: sim.expectedRows, queueUrl })}\n`,
  );
  sqs.destroy();
}

function summary(sim: TelemetrySimulator): string {
  const poison = POISON_KINDS.reduce((n, k) => n + sim.counts[k], 0);
  return `${sim.counts.reading} readings, ${sim.counts.duplicate} duplicates, ${poison} malformed`;
}

main().catch((err: unknown) => {
  process.stderr.write(`simulate: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
