/**
 * The metrics endpoints of the real processes (issue 18, items 1 and 2): a worker (through
 * tools/faults/run.ts, so one CreateThing is throttled) and an API, started as `npm start` starts
 * them, against the global setup's Temporal dev server, PostgreSQL and moto. One plant is
 * provisioned through the API; then every endpoint is scraped: the counters moved, each endpoint
 * listens on loopback by default, and every metric the Grafana dashboard and the alert rules use
 * is one these processes (and the consumer's registry) really export.
 *
 * Both processes also trace (item 3), to a stand-in OTLP collector: their entry points wire the
 * spans (the trace's shape is test/observability/traces.test.ts), metrics and traces side by side.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IngestMetrics } from '../../src/ingest/metrics.js';
import { type BundleKind, buildWorkflowBundle, prebuiltBundlePath } from '../../src/worker/bundle.js';
import { freePort, ManagedProcess } from '../../tools/stack/processes.js';
import { waitFor } from '../support/ingest.js';
import { listeningAddresses } from '../support/listening.js';
import { envFor } from '../support/product-stack.js';
import { metricNames, type Sample, sampleValue, scrape } from '../support/prometheus-text.js';
import { dashboardExpressions, metricsOfExpression, ruleExpressions } from '../support/promql-names.js';
import { uniqueTaskQueue } from '../support/temporal.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const TOKEN = 'metrics-endpoints-token-0123456789';

let dir: string;
const ports = { worker: 0, temporal: 0, api: 0, apiMetrics: 0 };
/** The trace the provision joins (W3C traceparent of the POST), and what the collector received. */
const TRACE_ID = '5eb1a2c3d4e5f60718293a4b5c6d7e8f';
const exports: Buffer[] = [];
let collector: Server;
const processes: ManagedProcess[] = [];
/** What each endpoint answered after the provision. */
const scraped: Record<'worker' | 'temporal' | 'api', { text: string; samples: Sample[] }> = {} as never;

function start(name: string, args: string[], env: NodeJS.ProcessEnv): ManagedProcess {
  const proc = ManagedProcess.start({
    name,
    command: process.execPath,
    args: ['--import', 'tsx', ...args],
    cwd: ROOT,
    env,
    output: join(dir, `${name}.log`),
    stopTimeoutMs: 45_000,
  });
  processes.push(proc);
  return proc;
}

const log = (name: string) => readFile(join(dir, `${name}.log`), 'utf8').catch(() => '');

async function api(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`http://127.0.0.1:${ports.api}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...init.headers },
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'solar-iot-metrics-'));
  for (const key of Object.keys(ports) as (keyof typeof ports)[]) ports[key] = await freePort();
  collector = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      if (request.url === '/v1/traces') exports.push(Buffer.concat(chunks));
      response.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
  // Both bundles prebuilt, as `npm run build` leaves them: the worker must pick the traced one.
  const bundle = join(dir, 'workflow-bundle.js');
  for (const kind of ['plain', 'traced'] as BundleKind[])
    await buildWorkflowBundle(prebuiltBundlePath(kind, bundle), kind);
  const env = await envFor('aws', uniqueTaskQueue('metrics'), {
    SOLAR_IOT_WORKFLOW_BUNDLE: bundle,
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(collector.address() as AddressInfo).port}`,
    LOG_LEVEL: 'info',
    API_TOKEN: TOKEN,
    PORT: String(ports.api),
    API_METRICS_PORT: String(ports.apiMetrics),
    WORKER_METRICS_PORT: String(ports.worker),
    WORKER_METRICS_TEMPORAL_PORT: String(ports.temporal),
    // The first CreateThing answers ThrottlingException; Temporal retries the activity.
    SOLAR_IOT_FAULTS: 'CreateThing=1:throttling#1',
  });
  const worker = start('worker', ['tools/faults/run.ts', 'worker'], env);
  const apiProcess = start('api', ['src/api/main.ts'], env);
  await waitFor(
    'the worker to poll and the API to listen',
    async () => {
      for (const p of [worker, apiProcess])
        if (!p.running) throw new Error(`${p.name} exited:\n${await log(p.name)}`);
      const apiUp = await fetch(`http://127.0.0.1:${ports.api}/healthz`).then(
        (r) => r.ok,
        () => false,
      );
      return apiUp && (await log('worker')).includes('"worker polling"');
    },
    170_000,
  );

  const created = await api('/plants', {
    method: 'POST',
    body: JSON.stringify({ name: 'Metrics plant' }),
    headers: { traceparent: `00-${TRACE_ID}-00f067aa0ba902b7-01` },
  });
  expect(created.status).toBe(202);
  const { plant } = (await created.json()) as { plant: { id: string } };
  await waitFor(
    'the plant to be active',
    async () =>
      ((await (await api(`/plants/${plant.id}`)).json()) as { plant: { iotStatus: string } }).plant
        .iotStatus === 'active',
    120_000,
  );
  // Active is written by an activity before the workflow's last task: wait for the run's end to be
  // counted on both endpoints before reading them (a scrape at once raced it in CI).
  await waitFor(
    'the provision to be counted as completed',
    async () => {
      scraped.worker = await scrape(`http://127.0.0.1:${ports.worker}/metrics`);
      scraped.temporal = await scrape(`http://127.0.0.1:${ports.temporal}/metrics`);
      const finished = sampleValue(scraped.worker.samples, 'solar_iot_workflows_finished_total', {
        workflow: 'provisionPlant',
        outcome: 'completed',
      });
      const sdk = sampleValue(scraped.temporal.samples, 'temporal_workflow_completed_total', {
        workflow_type: 'provisionPlant',
      });
      return finished >= 1 && (sdk ?? 0) >= 1;
    },
    60_000,
  );
  scraped.api = await scrape(`http://127.0.0.1:${ports.apiMetrics}/metrics`);
}, 300_000);

afterAll(async () => {
  for (const p of processes.reverse()) await p.stop();
  collector?.close();
  if (dir && !process.env.SOLAR_IOT_KEEP_TEST_DIR) await rm(dir, { recursive: true, force: true });
});

describe('metrics of a worker and an API after one provision', () => {
  it('listen on 127.0.0.1 only by default', () => {
    for (const port of Object.values(ports))
      expect(listeningAddresses(port), String(port)).toEqual(['127.0.0.1']);
  });

  it('the worker counts the provision, its AWS calls (the throttled one too) and the plants', () => {
    const { samples } = scraped.worker;
    expect(sampleValue(samples, 'solar_iot_workflows_started_total', { workflow: 'provisionPlant' })).toBe(1);
    expect(
      sampleValue(samples, 'solar_iot_workflows_finished_total', {
        workflow: 'provisionPlant',
        outcome: 'completed',
      }),
    ).toBe(1);
    const createThing = (outcome: string) =>
      sampleValue(samples, 'solar_iot_aws_calls_total', {
        service: 'IoT',
        operation: 'CreateThing',
        outcome,
      });
    expect(createThing('throttled')).toBe(1);
    expect(createThing('success')).toBe(1);
    expect(
      sampleValue(samples, 'solar_iot_aws_call_duration_seconds_count', { operation: 'CreateThing' }),
    ).toBe(2);
    expect(samples.some((s) => s.name === 'solar_iot_plants' && s.labels.iot_status === 'active')).toBe(true);
    expect(sampleValue(samples, 'process_resident_memory_bytes')).toBeGreaterThan(0);
  });

  it("the Temporal SDK's endpoint counts the workflow and the activities", () => {
    const { samples } = scraped.temporal;
    expect(
      sampleValue(samples, 'temporal_workflow_completed_total', { workflow_type: 'provisionPlant' }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      sampleValue(samples, 'temporal_activity_execution_failed_total', { activity_type: 'createThing' }),
    ).toBeGreaterThanOrEqual(1);
  });

  it('the API counts its requests by route template and status', () => {
    const { samples, text } = scraped.api;
    expect(
      sampleValue(samples, 'solar_iot_api_requests_total', {
        route: '/plants',
        method: 'POST',
        status: '202',
      }),
    ).toBe(1);
    expect(
      sampleValue(samples, 'solar_iot_api_requests_total', {
        route: '/plants/:id',
        method: 'GET',
        status: '200',
      }),
    ).toBeGreaterThanOrEqual(1);
    expect(text).not.toMatch(/route="\/plants\/[0-9a-f-]{36}"/);
  });
});

describe('the dashboard and the alert rules use only metrics that exist', () => {
  it('finds every metric of deploy/grafana and deploy/prometheus among what the processes export', async () => {
    const ingest = new IngestMetrics({ defaultMetrics: true });
    const exported = new Set([
      ...metricNames(scraped.worker.text),
      ...metricNames(scraped.temporal.text),
      ...metricNames(scraped.api.text),
      ...metricNames(await ingest.registry.metrics()),
      // Written by Prometheus itself for every target.
      'up',
    ]);
    const expressions = [
      ...(await dashboardExpressions(join(ROOT, 'deploy/grafana/solar-iot.json'))),
      ...(await ruleExpressions(join(ROOT, 'deploy/prometheus/alerts.yml'))),
    ];
    expect(expressions.length).toBeGreaterThan(10);
    const missing = expressions.flatMap(({ where, expr }) =>
      metricsOfExpression(expr)
        .filter((name) => !exported.has(name))
        .map((name) => `${name} (${where})`),
    );
    expect(missing).toEqual([]);
  });
});

describe('traces of the same worker and API (OTEL_EXPORTER_OTLP_ENDPOINT set)', () => {
  it("reach the collector, the worker's workflow, activity and AWS spans in the API request's trace", async () => {
    const traceId = Buffer.from(TRACE_ID, 'hex');
    /** Whether `service` exported `name` in a batch with spans of the provision's trace. */
    const exported = (service: string, name: string) =>
      exports.some((body) => body.includes(service) && body.includes(traceId) && body.includes(name));
    const expected = {
      'solar-iot-api': ['POST /plants', 'StartWorkflow:provisionPlant'],
      'solar-iot-worker': ['RunWorkflow:provisionPlant', 'RunActivity:createThing', 'IoT.CreateThing'],
    };
    const missing = () =>
      Object.entries(expected).flatMap(([service, names]) =>
        names.filter((name) => !exported(service, name)).map((name) => `${service} ${name}`),
      );
    // The SDK exports every few seconds, and the workflow's span ends after the plant is active.
    await waitFor('the spans of both processes', () => missing().length === 0, 60_000).catch(() =>
      expect(missing()).toEqual([]),
    );
    for (const name of ['api', 'worker']) expect(await log(name)).toContain('OpenTelemetry traces on');
    expect(await log('worker')).toMatch(/"workflows":"prebuilt".*"worker polling"/);
  });
});
