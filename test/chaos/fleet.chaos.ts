/**
 * A fleet on one queue: several worker processes (`tsx src/worker.ts`) and several ingest
 * consumers (`tsx src/ingest/main.ts`) side by side against one Temporal dev server, one
 * PostgreSQL and one moto, as a deployment scaled out runs them.
 *
 * - A backfill of PLANTS pending plants (a plant per resource: POLICY_MODE and TOPIC_RULE_MODE
 *   per-plant) is spread over WORKERS processes. One of them holds some of its AWS calls after AWS
 *   carried them out (the answer never comes: `delay-after`), and is SIGKILLed mid-run while it
 *   holds them. Every plant must end active with exactly one thing, certificate (ACTIVE), policy
 *   and rule, nothing left over, zero drift; the held calls must have been retried elsewhere.
 * - Every AWS call of every worker goes through one account-wide quota proxy
 *   (tools/faults/quota-proxy.ts) at QUOTA_SCALE x the AWS IoT default quotas, the rates the
 *   workers are configured with: it timestamps each quota-bound call on arrival and holds it
 *   against the operation's account bucket (one second of quota, as AWS's), so no call of the
 *   whole fleet may find it empty.
 * - CONSUMERS consumers share one SQS queue while telemetry for those plants arrives, one of them
 *   SIGKILLed while it holds messages: every reading is stored once, every poison message
 *   quarantined once, the queue ends empty.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { plants } from '../../src/db/schema.js';
import { type SimMessage, sendToQueue, TelemetrySimulator } from '../../src/ingest/simulator.js';
import { DEFAULT_QUOTAS, QUOTA_OPERATIONS } from '../../src/quotas/classes.js';
import { QUOTA_VARIABLES, UTILIZATION_VARIABLE } from '../../src/quotas/settings.js';
import { backfillClient } from '../../src/service/backfill.js';
import { buildWorkflowBundle } from '../../src/worker/bundle.js';
import { provisionWorkflowId, TASK_QUEUE } from '../../src/workflows/contract.js';
import { type QuotaProxy, startQuotaProxy } from '../../tools/faults/quota-proxy.js';
import { MOTO_CREDENTIALS } from '../../tools/stack/components.js';
import { expectConsistent } from '../support/chaos-checks.js';
import { IngestProcess, metric, queueDepth } from '../support/chaos-ingest.js';
import { ChaosStack, type WorkerProcess, waitFor } from '../support/chaos-stack.js';
import { PeakConnections, retriedActivities } from '../support/fleet-checks.js';

const PLANTS = Number(process.env.CHAOS_FLEET_PLANTS ?? 30);
const WORKERS = 3;
const CONSUMERS = 3;
const MESSAGES = Number(process.env.CHAOS_FLEET_MESSAGES ?? 600);
/** Quotas small enough that this machine reaches them: the rate limits, not the CPU, pace the run. */
const QUOTA_SCALE = Number(process.env.CHAOS_FLEET_QUOTA_SCALE ?? 0.4);
/** The fleet's SOLAR_IOT_QUOTA_UTILIZATION (README, Deployment: a fleet's margin). */
const UTILIZATION = process.env.CHAOS_FLEET_UTILIZATION ?? '0.5';
const QUOTAS = Object.fromEntries(QUOTA_OPERATIONS.map((op) => [op, DEFAULT_QUOTAS[op] * QUOTA_SCALE]));

/** The AWS calls of a provision that create something, and the activity that makes each. */
const CREATING: Readonly<Record<string, string>> = {
  CreateThing: 'createThing',
  CreateCertificateFromCsr: 'createCertificate',
  CreatePolicy: 'createPolicy',
  AttachPolicy: 'attachPolicy',
  AttachThingPrincipal: 'attachThingPrincipal',
  CreateTopicRule: 'ensureTelemetryRoute',
};

let stack: ChaosStack;
let proxy: QuotaProxy;
let sqs: SQSClient;
let bundle: string;

beforeAll(async () => {
  stack = await ChaosStack.start('fleet');
  proxy = await startQuotaProxy({ upstream: stack.moto.endpoint, quotas: QUOTAS });
  sqs = new SQSClient({ endpoint: stack.moto.endpoint, region: 'us-east-1', credentials: MOTO_CREDENTIALS });
  // Bundled once for the fleet, not by each worker at its start.
  bundle = join(stack.workDir, 'workflow-bundle.js');
  await buildWorkflowBundle(bundle);
}, 300_000);

afterAll(async () => {
  sqs?.destroy();
  await proxy?.close();
  await stack?.stop();
});

/** The worker's own pid (tsx runs it in a child process), from its log: Temporal's default identity is pid@host. */
function pidOf(worker: WorkerProcess): number | undefined {
  const match = /"pid":(\d+)/.exec(worker.log());
  return match ? Number(match[1]) : undefined;
}

/** Sends the messages in waves of at most 100, never more than 200 in the queue (moto's cost grows with depth). */
async function sendTelemetry(messages: readonly SimMessage[]): Promise<void> {
  for (let sent = 0; sent < messages.length; ) {
    if ((await queueDepth(sqs, stack.queueUrl)) > 100) {
      await sleep(200);
      continue;
    }
    const wave = messages.slice(sent, sent + 100);
    const accepted = await sendToQueue(sqs, stack.queueUrl, wave);
    if (accepted !== wave.length) throw new Error(`SQS took ${accepted} of ${wave.length} messages`);
    sent += wave.length;
  }
}

/** For a refusal: when the calls of that operation arrived in the 2 s before it (seconds since the proxy started). */
function callsBefore(quota: ReturnType<QuotaProxy['snapshot']>): string {
  return Object.entries(quota.refusedAt)
    .flatMap(([op, refusals]) =>
      refusals.map(
        (t) =>
          `${op} refused at ${t}, arrivals ${(quota.arrivedAt[op] ?? []).filter((a) => a > t - 2 && a <= t).join(', ')}`,
      ),
    )
    .join('; ');
}

async function count(sql: string): Promise<number> {
  const { rows } = await stack.database.pool.query<{ n: string }>(sql);
  return Number(rows[0]?.n ?? 0);
}

describe('a fleet on one queue', () => {
  it(`provisions ${PLANTS} plants over ${WORKERS} workers (one SIGKILLed) within the account quotas, and ${CONSUMERS} consumers store every message once`, async () => {
    const started = performance.now();
    const seconds = () => Math.round((performance.now() - started) / 1000);
    const ids = Array.from({ length: PLANTS }, () => randomUUID());
    await stack.database.db
      .insert(plants)
      .values(ids.map((id, i) => ({ id, name: `Fleet ${i}`, iotStatus: 'pending' as const })));

    const env = {
      AWS_ENDPOINT_URL: proxy.endpoint,
      SOLAR_IOT_WORKFLOW_BUNDLE: bundle,
      POLICY_MODE: 'per-plant',
      TOPIC_RULE_MODE: 'per-plant',
      ...Object.fromEntries(QUOTA_OPERATIONS.map((op) => [QUOTA_VARIABLES[op], String(QUOTAS[op])])),
      [UTILIZATION_VARIABLE]: UTILIZATION,
    };
    // The victim: its first call of each creating operation is carried out by AWS, its answer held.
    const held = Object.keys(CREATING)
      .map((op) => `${op}=delay-after:600000#1`)
      .join(';');
    const [victim, ...survivors] = await Promise.all([
      stack.startWorker({ env, faults: held }),
      ...Array.from({ length: WORKERS - 1 }, () => stack.startWorker({ env })),
    ]);
    if (!victim) throw new Error('no worker');
    const sim = new TelemetrySimulator({
      plants: PLANTS,
      plantIds: ids,
      devices: 2,
      duplicates: 0.1,
      malformed: 0.02,
      seed: 5,
      start: new Date(Date.now() - 24 * 3_600_000), // not ahead of the clock (future_timestamp)
    });
    const messages = Array.from({ length: MESSAGES }, () => sim.next());
    const consumers = await Promise.all(
      Array.from({ length: CONSUMERS }, (_, i) =>
        IngestProcess.start(stack, `ingest-${i + 1}`, {
          INGEST_WAIT_SECONDS: '1',
          INGEST_VISIBILITY_SECONDS: '5', // what the killed consumer held comes back within seconds
          INGEST_BATCH_MESSAGES: '50',
        }),
      ),
    );
    const connections = new PeakConnections(stack.database.pool);
    try {
      const client = await stack.client();
      const backfill = backfillClient(client, TASK_QUEUE);
      const { workflowId } = await backfill.start({ concurrency: PLANTS, pageSize: PLANTS });
      const sending = sendTelemetry(messages);

      // Mid-run: some plants done, the victim holding answers of calls AWS carried out.
      const killWorker = async () => {
        const at = await waitFor(
          'a quarter of the plants active while the victim holds AWS answers',
          async () => {
            await connections.sample();
            const active = await count(`SELECT count(*) AS n FROM plants WHERE iot_status = 'active'`);
            const held = victim.faultTotals()?.delayed ?? 0;
            return active >= PLANTS / 4 && held > 0 ? { active } : undefined;
          },
          180_000,
          200,
        );
        await victim.kill();
        // The operations whose answers it held (the report it wrote last).
        const report = JSON.parse(readFileSync(victim.faultReportFile, 'utf8')) as {
          delayed: Record<string, number>;
        };
        return { ...at, held: Object.keys(report.delayed), second: seconds() };
      };
      // Meanwhile one consumer killed while it holds messages it received and did not delete.
      const [consumerVictim, ...consumerSurvivors] = consumers as [IngestProcess, ...IngestProcess[]];
      const killConsumer = async () => {
        const at = await waitFor(
          'the first consumer holding messages',
          async () => {
            const m = await consumerVictim.metrics();
            const inFlight = metric(m, 'ingest_in_flight_messages');
            return inFlight > 0
              ? { inFlight, received: metric(m, 'ingest_messages_received_total') }
              : undefined;
          },
          120_000,
          50,
        );
        await consumerVictim.kill();
        return at;
      };
      const victimIdentity = `${pidOf(victim)}@`;
      const [atKill, consumerAtKill] = await Promise.all([killWorker(), killConsumer()]);

      const result = await backfill.wait(workflowId, { onProgress: () => void connections.sample() });
      await sending;
      await waitFor(
        'the queue to drain',
        async () => (await queueDepth(sqs, stack.queueUrl)) === 0,
        120_000,
        500,
      );
      await connections.sample();
      const received = await Promise.all(
        consumerSurvivors.map(async (c) => metric(await c.metrics(), 'ingest_messages_received_total')),
      );
      const quota = proxy.snapshot();
      const retried = await retriedActivities(
        client,
        ids.map((id) => provisionWorkflowId(id)),
      );
      console.log(
        `[chaos] fleet: ${PLANTS} plants over ${WORKERS} workers in ${seconds()} s; worker ${victimIdentity}* SIGKILLed at ${atKill.second} s ` +
          `with ${atKill.active} plants active, holding the answers of ${atKill.held.join(', ')}; activities retried: ${retried.map((r) => `${r.activity} #${r.attempt}`).join(', ')}; ` +
          `quota-bound calls ${JSON.stringify(quota.calls)}, most in any 1 s ${JSON.stringify(quota.peakPerSecond)}, ` +
          `refused ${JSON.stringify(quota.refusedAt)} (quotas ${JSON.stringify(QUOTAS)}); ` +
          `ingest: ${messages.length} messages over ${CONSUMERS} consumers, the killed one had received ${consumerAtKill.received} and held ${consumerAtKill.inFlight}, ` +
          `the others received ${received.join(' and ')}; PostgreSQL connections at most ${connections.describe()}`,
      );

      expect({ done: result.done, failed: result.failed, failures: result.failures }).toEqual({
        done: PLANTS,
        failed: 0,
        failures: [],
      });
      // One thing, one ACTIVE certificate, one policy, one rule per plant; nothing else; zero drift.
      await expectConsistent(stack, { active: ids, gone: [], perPlantRules: true });
      // The kill hit work in flight: what the victim held was carried out again by the others.
      const retriedTypes = new Set(retried.map((r) => r.activity));
      expect(atKill.held.filter((op) => !retriedTypes.has(CREATING[op] ?? op))).toEqual([]);
      expect(atKill.held.length).toBeGreaterThan(0);
      // Within the quotas: no quota-bound call of the fleet found the account's bucket empty.
      expect(quota.refusedAt, callsBefore(quota)).toEqual({});
      expect(quota.calls.CreatePolicy).toBeGreaterThanOrEqual(PLANTS);

      // Every reading once, every poison message once, by consumers that all took part.
      expect(received.every((n) => n > 0)).toBe(true);
      expect(await count('SELECT count(*) AS n FROM raw_mqtt_data')).toBe(sim.counts.reading);
      expect(await count('SELECT count(*) AS n FROM processed_data')).toBe(sim.expectedRows);
      expect(await count('SELECT count(*) AS n FROM quarantine')).toBe(
        messages.length - sim.counts.reading - sim.counts.duplicate,
      );
    } finally {
      for (const c of consumers) if (c.running) await c.stop();
      for (const w of survivors) if (w.running) await w.stop();
    }
  });
});
