/**
 * Traces (issue 18, item 3): with OTEL_EXPORTER_OTLP_ENDPOINT set, one provision through the API
 * is one trace, from the API's request span through Temporal (client interceptor, the traced
 * workflow bundle, activity interceptors) to a span per AWS call. The worker and the API are wired
 * here as src/worker.ts and src/api/main.ts wire them (openWorkerRuntime, createWorkers,
 * openSolarIot, buildServer), against the dev server, moto and PostgreSQL, in one process whose
 * spans go to an in-memory exporter instead of the OTLP one.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/api/server.js';
import { loadApiConfig, loadWorkerConfig } from '../../src/app/config.js';
import { type OpenedSolarIot, openSolarIot } from '../../src/app/service.js';
import { openWorkerRuntime, type WorkerRuntime } from '../../src/app/worker.js';
import { loadPayloadCodec } from '../../src/codec/data-converter.js';
import { ConfigError } from '../../src/config/index.js';
import { readTracingSettings, startTracing, type Tracing } from '../../src/tracing/index.js';
import { noMetricsSinks } from '../../src/worker/metrics.js';
import type { WorkerSet } from '../../src/worker/workers.js';
import { provisionWorkflowId } from '../../src/workflows/contract.js';
import { envFor } from '../support/product-stack.js';
import { installTestRuntime, uniqueTaskQueue } from '../support/temporal.js';
import { createTestWorkers, workflowBundle } from '../support/worker.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const TOKEN = 'traces-test-token-0123456789';
const PLANT_NAME = 'Traced rooftop 7';

const exporter = new InMemorySpanExporter();
let env: Record<string, string | undefined>;
let tracing: Tracing;
let runtime: WorkerRuntime;
let nativeConnection: NativeConnection;
let workers: WorkerSet;
let running: Promise<void>;
let api: OpenedSolarIot;
let closeServer: () => Promise<void>;
let base: string;
/** A client without interceptors (but with the codec): what the test asks Temporal makes no span. */
let observer: { client: Client; close(): Promise<void> };

beforeAll(async () => {
  installTestRuntime();
  const taskQueue = uniqueTaskQueue('traces');
  env = await envFor('aws', taskQueue, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' });
  tracing = (await startTracing(readTracingSettings(env), { role: 'worker', exporter })) as Tracing;

  // The worker, as src/worker.ts wires it when it traces.
  const workerConfig = loadWorkerConfig(env);
  expect(workerConfig.tracing).toEqual({ endpoint: 'http://127.0.0.1:4318' });
  runtime = await openWorkerRuntime(workerConfig, {
    aws: { tracing: tracing.aws },
    temporalInterceptors: tracing.client,
  });
  nativeConnection = await NativeConnection.connect(workerConfig.core.temporal.connectionOptions);
  ({ workers } = await createTestWorkers({
    connection: nativeConnection,
    taskQueue,
    dataConverter: runtime.dataConverter,
    activities: runtime.activities,
    tracing: tracing.worker,
  }));
  running = workers.run();

  // The API, as src/api/main.ts wires it.
  const apiConfig = loadApiConfig(env);
  api = await openSolarIot(apiConfig.core, {
    codec: apiConfig.codec,
    aws: { tracing: tracing.aws },
    temporalInterceptors: tracing.client,
  });
  const server = buildServer({ solarIot: api.solarIot, settings: { token: TOKEN }, tracing: tracing.http });
  await server.app.listen({ port: 0, host: '127.0.0.1' });
  closeServer = () => server.app.close();
  base = `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}`;

  const connection = await Connection.connect(workerConfig.core.temporal.connectionOptions);
  const { dataConverter } = await loadPayloadCodec(env, workerConfig.core.encryption);
  observer = {
    client: new Client({ connection, namespace: workerConfig.core.temporal.namespace, dataConverter }),
    close: () => connection.close(),
  };
});

afterAll(async () => {
  await closeServer?.();
  workers?.shutdown();
  await running;
  await nativeConnection?.close();
  await api?.close();
  await runtime?.close();
  await observer?.close();
  await tracing?.shutdown();
});

/** Polls until `check` returns a value (the test timeout bounds it). */
async function until<T>(check: () => Promise<T | undefined | null | false>): Promise<T> {
  for (;;) {
    const value = await check();
    if (value) return value;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Provisions a plant through the API; resolves when its workflow has completed. */
async function provisionThroughApi(): Promise<string> {
  // A probe, as an orchestrator sends every few seconds: no span.
  expect((await fetch(`${base}/healthz`)).status).toBe(200);
  const response = await fetch(`${base}/plants`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: PLANT_NAME }),
  });
  expect(response.status).toBeLessThan(300);
  const {
    plant: { id: plantId },
  } = (await response.json()) as { plant: { id: string } };
  const handle = observer.client.workflow.getHandle(provisionWorkflowId(plantId));
  await until(async () => (await handle.describe()).status.name === 'COMPLETED');
  return plantId;
}

/** The names from `span` up to its root, through the parents recorded in `spans`. */
function ancestry(span: ReadableSpan, spans: readonly ReadableSpan[]): string[] {
  const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
  const names: string[] = [];
  for (let s: ReadableSpan | undefined = span; s; s = s.parentSpanId ? byId.get(s.parentSpanId) : undefined)
    names.push(s.name);
  return names;
}

describe('one provision through the API is one trace', () => {
  let spans: ReadableSpan[];
  let plantId: string;

  beforeAll(async () => {
    await tracing.flush();
    exporter.reset();
    plantId = await provisionThroughApi();
    await tracing.flush();
    spans = exporter.getFinishedSpans();
  });

  it('from the API request span to each AWS call span', () => {
    const requests = spans.filter((s) => s.kind === SpanKind.SERVER);
    expect(requests.map((s) => s.name)).toEqual(['POST /plants']);
    const request = requests[0] as ReadableSpan;
    expect(request.attributes).toMatchObject({ 'http.route': '/plants', 'http.response.status_code': 202 });

    // Every span of the provision, workflow spans from the sandbox included, is in the request's trace.
    expect([...new Set(spans.map((s) => s.spanContext().traceId))]).toEqual([request.spanContext().traceId]);
    const aws = spans.filter((s) => s.attributes['rpc.system'] === 'aws-api');
    expect(aws.map((s) => s.name)).toEqual(
      expect.arrayContaining(['IoT.CreateThing', 'IoT.CreateCertificateFromCsr', 'IoT.AttachThingPrincipal']),
    );
    for (const span of aws) {
      const chain = ancestry(span, spans);
      expect(chain.at(-1), `${chain.join(' <- ')}`).toBe('POST /plants');
      expect(chain[1]).toMatch(/^RunActivity:/);
      expect(chain.slice(-3)).toEqual([
        'RunWorkflow:provisionPlant',
        'StartWorkflow:provisionPlant',
        'POST /plants',
      ]);
    }
    const createThing = aws.find((s) => s.name === 'IoT.CreateThing') as ReadableSpan;
    expect(ancestry(createThing, spans)).toEqual([
      'IoT.CreateThing',
      'RunActivity:createThing',
      'StartActivity:createThing',
      'RunWorkflow:provisionPlant',
      'StartWorkflow:provisionPlant',
      'POST /plants',
    ]);
    expect(createThing.kind).toBe(SpanKind.CLIENT);
    expect(createThing.attributes).toMatchObject({
      'rpc.service': 'IoT',
      'rpc.method': 'CreateThing',
      'http.response.status_code': 200,
    });
    expect(plantId).toBeTruthy();
  });

  it('carries no secret and no payload: no token, key, certificate, plant name or plant input', async () => {
    const text = JSON.stringify(
      spans.map((s) => ({
        name: s.name,
        attributes: s.attributes,
        events: s.events,
        status: s.status,
        links: s.links,
        resource: s.resource.attributes,
      })),
    );
    const secrets = [
      TOKEN,
      'PRIVATE KEY',
      'BEGIN CERTIFICATE',
      'CERTIFICATE REQUEST',
      PLANT_NAME,
      env.ENCRYPTION_KEY as string,
      ...(env.TEMPORAL_CODEC_KEYS ?? '').split(/[,:]/).filter((part) => part.length >= 16),
    ];
    expect(text).toContain('IoT.CreateCertificateFromCsr');
    for (const secret of secrets) expect(text, 'a span carries a secret').not.toContain(secret);
  });

  it('replays: the traced history on a worker without traces, recorded histories on the traced bundle', async () => {
    const history = await observer.client.workflow.getHandle(provisionWorkflowId(plantId)).fetchHistory();
    const sinks = { ...noMetricsSinks(), ...tracing.worker.sinks };
    const replay = (bundle: Awaited<ReturnType<typeof workflowBundle>>) =>
      Worker.runReplayHistory(
        { workflowBundle: bundle, dataConverter: runtime.dataConverter, sinks },
        history,
        provisionWorkflowId(plantId),
      );
    await replay(await workflowBundle('encrypted-failures', 'plain'));
    await replay(await workflowBundle('encrypted-failures', 'traced'));

    // Runs started before tracing was turned on, replayed by a worker that traces.
    const dir = join(ROOT, 'test/provisioning/histories');
    const recorded = readdirSync(dir).map((file) => ({
      workflowId: file.replace(/\.json$/, ''),
      history: JSON.parse(readFileSync(join(dir, file), 'utf8')),
    }));
    const results = [];
    for await (const result of Worker.runReplayHistories(
      { workflowBundle: await workflowBundle('plain', 'traced'), sinks },
      recorded,
    ))
      results.push([result.workflowId, result.error?.message ?? null]);
    expect(results).toEqual(recorded.map((h) => [h.workflowId, null]));
  });
});

describe("a caller's trace context is honoured only with the API token", () => {
  /** A W3C traceparent of a trace the caller chose (a new trace id per request). */
  function foreignContext(): { traceId: string; spanId: string; header: string } {
    const hex = (bytes: number) =>
      Array.from({ length: bytes }, () =>
        Math.floor(Math.random() * 256)
          .toString(16)
          .padStart(2, '0'),
      ).join('');
    const traceId = hex(16);
    const spanId = hex(8);
    return { traceId, spanId, header: `00-${traceId}-${spanId}-01` };
  }

  /** Sends one request with a foreign traceparent; the server span it made, once exported. */
  async function serverSpanOf(path: string, headers: Record<string, string>) {
    const foreign = foreignContext();
    await tracing.flush();
    exporter.reset();
    const response = await fetch(`${base}${path}`, { headers: { ...headers, traceparent: foreign.header } });
    await response.arrayBuffer();
    // The span ends in onResponse, after the answer went out: poll until it is exported.
    const span = await until(async () => {
      await tracing.flush();
      return exporter.getFinishedSpans().find((s) => s.kind === SpanKind.SERVER);
    });
    return { status: response.status, span, foreign };
  }

  it.each([
    ['no token', '/plants', {}, 401],
    ['a wrong token', '/plants', { authorization: 'Bearer not-the-token-0123456789' }, 401],
    ['a public route without the token', '/openapi.json', {}, 200],
    // Refused before the token is even looked at (src/api/browser-guard.ts).
    [
      'the token but a foreign Origin',
      '/plants',
      { authorization: `Bearer ${TOKEN}`, origin: 'https://evil.example' },
      403,
    ],
  ])("%s: a new root trace, the caller's ids nowhere in the span", async (_case, path, headers, status) => {
    const { status: answered, span, foreign } = await serverSpanOf(path, headers);
    expect(answered).toBe(status);
    expect(span.attributes['http.response.status_code']).toBe(status);
    expect(span.spanContext().traceId).not.toBe(foreign.traceId);
    expect(span.parentSpanId).toBeUndefined();
    expect(span.links).toEqual([]);
    expect(JSON.stringify({ attributes: span.attributes, events: span.events })).not.toContain(
      foreign.traceId,
    );
  });

  it("the token: the request span joins the caller's trace as the child of its span", async () => {
    const { status, span, foreign } = await serverSpanOf('/plants', { authorization: `Bearer ${TOKEN}` });
    expect(status).toBe(200);
    expect(span.name).toBe('GET /plants');
    expect(span.spanContext().traceId).toBe(foreign.traceId);
    expect(span.parentSpanId).toBe(foreign.spanId);
    // Started late (after the auth hook) but dated from the request's arrival: start before end.
    expect(span.duration.every((part) => part >= 0)).toBe(true);
  });
});

describe('spans leave without error text', () => {
  it('keeps the error status and the exception type, drops message and stack trace', async () => {
    exporter.reset();
    const span = trace.getTracer('test').startSpan('failing');
    span.recordException(new TypeError('secret-in-message'));
    span.setStatus({ code: SpanStatusCode.ERROR, message: 'secret-in-message' });
    span.end();
    await tracing.flush();
    const exported = exporter.getFinishedSpans().find((s) => s.name === 'failing');
    expect(exported?.status).toEqual({ code: SpanStatusCode.ERROR });
    expect(exported?.events.map((e) => e.attributes)).toEqual([{ 'exception.type': 'TypeError' }]);
    expect(JSON.stringify(exported?.events)).not.toContain('secret-in-message');
  });
});

describe('the OTLP exporter of a process that traces', () => {
  it('posts protobuf spans to <OTEL_EXPORTER_OTLP_ENDPOINT>/v1/traces; a failing collector is a warning, not a failed stop', async () => {
    const received: { url: string; type: string; body: Buffer }[] = [];
    const collector = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        received.push({
          url: request.url ?? '',
          type: request.headers['content-type'] ?? '',
          body: Buffer.concat(chunks),
        });
        response.writeHead(500).end();
      });
    });
    await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
    const { port } = collector.address() as AddressInfo;
    // A process of its own: the global tracer of this one is the in-memory exporter's.
    const script = `
      const { startTracing, readTracingSettings } = await import('./src/tracing/index.ts');
      const { createLogger } = await import('./src/logging/index.ts');
      const logger = createLogger({ level: 'warn', pretty: false });
      const tracing = await startTracing(readTracingSettings(process.env), { role: 'api', logger });
      const { trace } = await import('@opentelemetry/api');
      trace.getTracer('smoke').startSpan('smoke-span').end();
      await tracing.shutdown();
      console.log('stopped');`;
    try {
      const { stdout } = await promisify(execFile)(
        process.execPath,
        ['--import', 'tsx', '--input-type=module', '-e', script],
        { cwd: ROOT, env: { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}` } },
      );
      expect(received.map((r) => [r.url, r.type])).toEqual([['/v1/traces', 'application/x-protobuf']]);
      const body = received[0]?.body ?? Buffer.alloc(0);
      expect(body.includes('smoke-span')).toBe(true);
      expect(body.includes('solar-iot-api')).toBe(true);
      expect(stdout).toMatch(/OpenTelemetry: the last spans were not exported/);
      // execFile rejects unless the process exited 0; pino may flush its line after ours.
      expect(stdout).toContain('stopped\n');
    } finally {
      collector.close();
    }
  });
});

describe('configuration', () => {
  it('is off without OTEL_EXPORTER_OTLP_ENDPOINT, and startTracing then loads nothing', async () => {
    const off = { ...env, OTEL_EXPORTER_OTLP_ENDPOINT: '' };
    expect(loadWorkerConfig(off).tracing).toBeUndefined();
    expect(loadApiConfig(off).tracing).toBeUndefined();
    expect(await startTracing(undefined, { role: 'api' })).toBeUndefined();
  });

  it.each([
    [
      { OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' },
      /^OTEL_EXPORTER_OTLP_ENDPOINT: .*not an http\(s\) URL/,
    ],
    [
      { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4317', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' },
      /^OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" is not supported/,
    ],
  ])('a wrong value stops the worker and the API naming the variable: %o', (wrong, line) => {
    for (const load of [loadWorkerConfig, loadApiConfig]) {
      const error = (() => {
        try {
          load({ ...env, ...wrong });
        } catch (e) {
          return e;
        }
      })();
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).lines).toEqual([expect.stringMatching(line)]);
    }
  });

  it('never shows the password of an endpoint URL', () => {
    const error = (() => {
      try {
        readTracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'ftp://user:hunter2@collector' });
      } catch (e) {
        return e as Error;
      }
    })();
    expect(error?.message).toMatch(/^OTEL_EXPORTER_OTLP_ENDPOINT:/);
    expect(error?.message).not.toContain('hunter2');
  });
});

describe('without traces nothing of OpenTelemetry is loaded', () => {
  /** Modules whose loading loads OpenTelemetry. */
  const OPENTELEMETRY = /^(@opentelemetry\/|@temporalio\/interceptors-opentelemetry)/;

  /** Specifiers `file` imports when it is loaded: neither `import type` nor dynamic `import()`. */
  function staticImports(file: string): string[] {
    const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest);
    return source.statements.flatMap((statement) => {
      if (ts.isImportDeclaration(statement) && !statement.importClause?.isTypeOnly)
        return [(statement.moduleSpecifier as ts.StringLiteral).text];
      if (ts.isExportDeclaration(statement) && !statement.isTypeOnly && statement.moduleSpecifier)
        return [(statement.moduleSpecifier as ts.StringLiteral).text];
      return [];
    });
  }

  it('only a dynamic import reaches it: no module of src/ loads one when it is itself loaded', () => {
    const files = (function walk(dir: string): string[] {
      return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? walk(join(dir, e.name)) : /\.ts$/.test(e.name) ? [join(dir, e.name)] : [],
      );
    })(join(ROOT, 'src'));
    const imports = new Map(
      files.map((file) => [
        file,
        staticImports(file).map((s) =>
          s.startsWith('.') ? resolve(file, '..', s.replace(/\.js$/, '.ts')) : s,
        ),
      ]),
    );
    const loadsOpenTelemetry = new Set<string>();
    for (let grew = true; grew; ) {
      grew = false;
      for (const [file, specifiers] of imports) {
        if (loadsOpenTelemetry.has(file)) continue;
        if (specifiers.some((s) => OPENTELEMETRY.test(s) || loadsOpenTelemetry.has(s))) {
          loadsOpenTelemetry.add(file);
          grew = true;
        }
      }
    }
    const relative = [...loadsOpenTelemetry].map((f) => f.slice(ROOT.length + 1)).sort();
    // The SDK and the spans it makes, loaded by src/tracing/index.ts through `await import('./sdk.js')`.
    expect(relative).toEqual(['src/tracing/aws-spans.ts', 'src/tracing/http-spans.ts', 'src/tracing/sdk.ts']);
    expect(readFileSync(join(ROOT, 'src/tracing/index.ts'), 'utf8')).toContain("await import('./sdk.js')");
  });
});
