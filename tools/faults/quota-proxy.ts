/**
 * An account-wide AWS IoT quota in front of moto, for benchmarks with several worker processes.
 *
 * The fault layer's token buckets (tools/faults) live inside one process, so they can only emulate
 * the quota one process sees. AWS applies its request-rate quotas per account and region: every
 * process of a fleet draws from the same bucket. This reverse proxy does that. Every process
 * sends its AWS calls here (AWS_ENDPOINT_URL / the client's `endpoint`); the proxy names the AWS
 * IoT operation of each request from its REST method and path, takes a token from that
 * operation's bucket (one `TokenBucket` per operation, shared by all callers) and either forwards
 * the request to moto or answers the way AWS does over a quota: HTTP 429, `x-amzn-ErrorType:
 * ThrottlingException`, body `{"message":"Rate exceeded"}` (the SDK raises ThrottlingException;
 * bench/fleet/check-throttling.ts shows it). Anything else (other IoT operations, SQS, any other
 * service) is forwarded untouched, bodies streamed both ways. Counts calls and refusals per
 * operation in the shape of the fault layer's `FaultStats`.
 */

import {
  Agent,
  createServer,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import type { FaultStats } from './injector.js';
import { TokenBucket } from './token-bucket.js';

/**
 * The quota-bound operations, as @aws-sdk/client-iot serializes them (the `http` trait of each
 * operation schema, e.g. `AttachPolicy$` in node_modules/@aws-sdk/client-iot/dist-cjs/index.js).
 */
export const QUOTA_ROUTES: ReadonlyArray<readonly [operation: string, method: string, path: string]> = [
  ['CreateThing', 'POST', '/things/{thingName}'],
  ['AttachThingPrincipal', 'PUT', '/things/{thingName}/principals'],
  ['CreatePolicy', 'POST', '/policies/{policyName}'],
  ['AttachPolicy', 'PUT', '/target-policies/{policyName}'],
  ['DetachPolicy', 'POST', '/target-policies/{policyName}'],
  ['DeletePolicy', 'DELETE', '/policies/{policyName}'],
  ['UpdateCertificate', 'PUT', '/certificates/{certificateId}'],
  ['DeleteCertificate', 'DELETE', '/certificates/{certificateId}'],
];

interface Route {
  operation: string;
  method: string;
  /** Literal segments, or null for a `{label}`; `greedy` for a trailing `{label+}`. */
  segments: (string | null)[];
  greedy: boolean;
  literals: number;
}

function route(operation: string, method: string, path: string): Route {
  const parts = path.split('/').filter(Boolean);
  const greedy = /^\{[^}]+\+\}$/.test(parts.at(-1) ?? '');
  const segments = parts.map((p) => (/^\{[^}]+\}$/.test(p) ? null : p));
  return { operation, method, segments, greedy, literals: segments.filter((s) => s !== null).length };
}

/**
 * Every other IoT operation, read from the SDK's operation schemas (`[9, namespace, name,
 * { http: [method, path, code] }, ...]`), so the counts name them too; empty if the SDK's shape
 * changes (then they count as `OtherIoT`).
 */
function sdkRoutes(): Route[] {
  try {
    const iot = createRequire(import.meta.url)('@aws-sdk/client-iot') as Record<string, unknown>;
    const out: Route[] = [];
    for (const [key, value] of Object.entries(iot)) {
      if (!key.endsWith('$') || !Array.isArray(value) || value[0] !== 9) continue;
      const http = (value[3] as { http?: unknown } | undefined)?.http;
      if (!Array.isArray(http) || typeof http[0] !== 'string' || typeof http[1] !== 'string') continue;
      out.push(route(String(value[2]), http[0], http[1].split('?')[0] ?? ''));
    }
    return out;
  } catch {
    return [];
  }
}

const ROUTES: Route[] = [...QUOTA_ROUTES.map(([o, m, p]) => route(o, m, p)), ...sdkRoutes()];

/** The AWS IoT operation of a REST request (method + path, query ignored), or undefined. */
export function iotOperationOf(method: string, url: string): string | undefined {
  const parts = (url.split('?')[0] ?? '').split('/').filter(Boolean);
  let best: Route | undefined;
  for (const r of ROUTES) {
    if (r.method !== method) continue;
    if (r.greedy ? parts.length < r.segments.length : parts.length !== r.segments.length) continue;
    if (!r.segments.every((s, i) => s === null || s === parts[i])) continue;
    if (!best || r.literals > best.literals) best = r;
  }
  return best?.operation;
}

/** The service a SigV4-signed request is for (`iot`, `sqs`, ...), from its credential scope. */
export function signedService(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization ?? '';
  return /Credential=[^/]+\/[^/]+\/[^/]+\/([^/]+)\/aws4_request/.exec(auth)?.[1];
}

export interface QuotaProxyOptions {
  /** Where requests go, e.g. moto's `http://127.0.0.1:5000`. */
  upstream: string;
  /** Requests per second by IoT operation name; a bucket holds one second of quota, full at start. */
  quotas: Readonly<Record<string, number>>;
  port?: number;
}

export interface QuotaProxy {
  endpoint: string;
  /** Calls and refusals (`injected[op].quota`) by IoT operation; other services under `totals.other`. */
  snapshot(): FaultStats & {
    other: Record<string, number>;
    /** Most calls of an operation that arrived within any 1 s, refused ones included. */
    peakPerSecond: Record<string, number>;
    /** Seconds since the proxy started at which each call was refused, by operation. */
    refusedAt: Record<string, number[]>;
    /** Seconds since the proxy started at which each quota-bound call arrived, by operation. */
    arrivedAt: Record<string, number[]>;
  };
  close(): Promise<void>;
}

export async function startQuotaProxy(opts: QuotaProxyOptions): Promise<QuotaProxy> {
  const target = new URL(opts.upstream);
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const buckets = new Map(
    Object.entries(opts.quotas).map(([op, rate]) => [op, new TokenBucket(rate, Math.max(1, rate))]),
  );
  const stats: FaultStats = {
    calls: {},
    injected: {},
    delayed: {},
    totals: { calls: 0, injected: 0, quota: 0, delayed: 0 },
  };
  const other: Record<string, number> = {};
  const recent = new Map<string, number[]>();
  const peak: Record<string, number> = {};
  const refusedAt: Record<string, number[]> = {};
  const arrivedAt: Record<string, number[]> = {};
  const started = performance.now();
  let requestIds = 0;

  const arrival = (op: string) => {
    const now = performance.now();
    const times = recent.get(op) ?? [];
    recent.set(op, times);
    times.push(now);
    while ((times[0] ?? now) <= now - 1000) times.shift();
    peak[op] = Math.max(peak[op] ?? 0, times.length);
    if (!buckets.has(op)) return;
    const arrived = arrivedAt[op] ?? [];
    arrivedAt[op] = arrived;
    arrived.push(Math.round(now - started) / 1000);
  };

  const forward = (req: IncomingMessage, res: ServerResponse) => {
    const upstream = request(
      {
        protocol: target.protocol,
        hostname: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
        agent,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.statusMessage ?? '', answer.rawHeaders);
        answer.pipe(res);
      },
    );
    upstream.on('error', (error) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`quota proxy: upstream error: ${error.message}`);
    });
    req.pipe(upstream);
  };

  const server: Server = createServer((req, res) => {
    const service = signedService(req);
    const operation = service === 'iot' ? iotOperationOf(req.method ?? 'GET', req.url ?? '/') : undefined;
    if (service !== 'iot' || operation === undefined) {
      const key = service === 'iot' ? 'OtherIoT' : (service ?? 'unsigned');
      other[key] = (other[key] ?? 0) + 1;
      forward(req, res);
      return;
    }
    stats.calls[operation] = (stats.calls[operation] ?? 0) + 1;
    stats.totals.calls += 1;
    arrival(operation);
    const bucket = buckets.get(operation);
    if (bucket && !bucket.take()) {
      const byKind = stats.injected[operation] ?? {};
      stats.injected[operation] = byKind;
      byKind.quota = (byKind.quota ?? 0) + 1;
      stats.totals.quota += 1;
      const refused = refusedAt[operation] ?? [];
      refusedAt[operation] = refused;
      refused.push(Math.round(performance.now() - started) / 1000);
      // Read the body away so the client's keep-alive connection stays usable, then answer.
      req.resume();
      req.on('end', () => {
        const body = JSON.stringify({ message: 'Rate exceeded' });
        res.writeHead(429, {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          'x-amzn-ErrorType': 'ThrottlingException',
          'x-amzn-RequestId': `quota-proxy-${process.pid}-${++requestIds}`,
        });
        res.end(body);
      });
      return;
    }
    forward(req, res);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    snapshot: () => ({
      ...(JSON.parse(JSON.stringify(stats)) as FaultStats),
      other: { ...other },
      peakPerSecond: { ...peak },
      refusedAt: JSON.parse(JSON.stringify(refusedAt)) as Record<string, number[]>,
      arrivedAt: JSON.parse(JSON.stringify(arrivedAt)) as Record<string, number[]>,
    }),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}
