/**
 * AWS SDK v3 middleware that injects faults into any client (IoT, IoT data plane, SQS, ...).
 *
 * It sits in the `deserialize` step, below the SDK's own retry middleware and right above the
 * HTTP transport: what the caller (and the SDK's retry strategy, for clients that retry) sees is
 * exactly what a real network or a real AWS answer would produce. Test and benchmark use only:
 * see `faultInjectorFromEnv`, which refuses to run in production.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type {
  AbsoluteLocation,
  DeserializeHandlerOptions,
  DeserializeMiddleware,
  MiddlewareStack,
} from '@smithy/types';
import { type FaultKind, type FaultRule, type FaultSpec, operationMatches, parseFaultSpec } from './spec.js';
import { TokenBucket } from './token-bucket.js';

export const FAULT_MIDDLEWARE_NAME = 'solarIotFaultInjection';

/** Any AWS SDK v3 client. */
export interface MiddlewareClient {
  // biome-ignore lint/suspicious/noExplicitAny: every client has its own input/output unions
  middlewareStack: MiddlewareStack<any, any>;
}

export interface FaultStats {
  /** Calls seen, by operation. */
  calls: Record<string, number>;
  /** Injected errors by operation, then by kind (`quota` = refused by a token bucket). */
  injected: Record<string, Partial<Record<FaultKind | 'quota', number>>>;
  /** Calls slowed down by a latency rule, by operation. */
  delayed: Record<string, number>;
  /** Totals over every operation. */
  totals: { calls: number; injected: number; quota: number; delayed: number };
}

export interface FaultInjectorOptions {
  /** Milliseconds clock for the token buckets (default Date.now); tests freeze it. */
  now?: () => number;
  /** How latency is spent (default: a timer); tests hand in one they control. */
  sleep?: (ms: number) => Promise<unknown>;
}

/** mulberry32: small, fast, and the same sequence for the same seed on every platform. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface InjectedFields {
  name: string;
  message: string;
  code?: string;
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number; requestId?: string; attempts?: number };
  $retryable?: { throttling?: boolean };
  /** Marks our own errors, so tests and logs can tell them from real ones. */
  injected: true;
}

/** An error shaped like the one the SDK raises for the real fault. */
export function injectedError(kind: FaultKind | 'quota', operation: string, detail = ''): Error {
  const suffix = ` (injected${detail ? `: ${detail}` : ''})`;
  const requestId = `injected-${Math.random().toString(16).slice(2, 10)}`;
  let fields: InjectedFields;
  switch (kind) {
    case 'throttling':
    case 'quota':
      fields = {
        name: 'ThrottlingException',
        message: `Rate exceeded${suffix}`,
        $fault: 'client',
        $metadata: { httpStatusCode: 429, requestId },
        $retryable: { throttling: true },
        injected: true,
      };
      break;
    case '500':
      fields = {
        name: 'InternalFailureException',
        message: `An unexpected error has occurred${suffix}`,
        $fault: 'server',
        $metadata: { httpStatusCode: 500, requestId },
        injected: true,
      };
      break;
    case '503':
      fields = {
        name: 'ServiceUnavailableException',
        message: `Service unavailable${suffix}`,
        $fault: 'server',
        $metadata: { httpStatusCode: 503, requestId },
        injected: true,
      };
      break;
    case 'timeout':
      fields = {
        name: 'TimeoutError',
        message: `${operation}: connection timed out${suffix}`,
        injected: true,
      };
      break;
    case 'reset':
      // What node's http module rejects with; the SDK passes it through unchanged.
      fields = { name: 'Error', message: `socket hang up${suffix}`, code: 'ECONNRESET', injected: true };
      break;
    case 'lost-response':
      fields = {
        name: 'TimeoutError',
        message: `${operation}: no response before the connection dropped${suffix}`,
        injected: true,
      };
      break;
  }
  return Object.assign(new Error(fields.message), fields);
}

/** Input as text for `match`: JSON, plus the bytes of any PEM block (a CSR names its subject inside). */
function inputText(input: unknown): string {
  let json = '';
  try {
    json = JSON.stringify(input) ?? '';
  } catch {
    return '';
  }
  const decoded = [
    ...json.matchAll(/-----BEGIN [A-Z ]+-----(?:\\n|\\r|\s)*([A-Za-z0-9+/=\\nr\s]+?)-----END/g),
  ].map((m) => Buffer.from((m[1] ?? '').replace(/\\[nr]|\s/g, ''), 'base64').toString('latin1'));
  return [json, ...decoded].join('\n');
}

export class FaultInjector {
  readonly spec: FaultSpec;
  private readonly random: () => number;
  private readonly sleep: (ms: number) => Promise<unknown>;
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly hits = new Map<FaultRule, number>();
  private readonly stats: FaultStats = {
    calls: {},
    injected: {},
    delayed: {},
    totals: { calls: 0, injected: 0, quota: 0, delayed: 0 },
  };
  private readonly installed = new WeakSet<object>();
  private readonly needsInput: boolean;
  private reportTimer: NodeJS.Timeout | undefined;

  constructor(spec: FaultSpec | string, options: FaultInjectorOptions = {}) {
    this.spec = typeof spec === 'string' ? parseFaultSpec(spec) : spec;
    this.random = seededRandom(this.spec.seed);
    const now = options.now ?? Date.now;
    this.sleep = options.sleep ?? ((ms) => sleep(ms));
    for (const [operation, quota] of Object.entries(this.spec.quotas)) {
      this.buckets.set(
        operation,
        new TokenBucket(quota.ratePerSecond, quota.burst ?? quota.ratePerSecond, now),
      );
    }
    this.needsInput = this.spec.rules.some((r) => r.match !== undefined);
  }

  /** Adds the middleware to a client; installing twice on the same client is a no-op. */
  install<C extends MiddlewareClient>(client: C): C {
    if (this.installed.has(client)) return client;
    this.installed.add(client);
    const middleware: DeserializeMiddleware<object, object> = (next, context) => async (args) => {
      const operation = String(context.commandName ?? 'Unknown').replace(/Command$/, '');
      return this.around(operation, (args as { input?: unknown }).input, () => next(args));
    };
    const options: DeserializeHandlerOptions & AbsoluteLocation = {
      step: 'deserialize',
      priority: 'high',
      name: FAULT_MIDDLEWARE_NAME,
    };
    client.middlewareStack.add(middleware, options);
    return client;
  }

  /** A copy of the counters. */
  snapshot(): FaultStats {
    return JSON.parse(JSON.stringify(this.stats)) as FaultStats;
  }

  /** Writes the counters to the spec's report file now (no-op without one). */
  flush(): void {
    if (this.reportTimer) clearTimeout(this.reportTimer);
    this.reportTimer = undefined;
    const file = this.spec.reportFile;
    if (!file) return;
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(
      tmp,
      `${JSON.stringify({ pid: process.pid, at: new Date().toISOString(), ...this.stats })}\n`,
    );
    renameSync(tmp, file);
  }

  /** Runs one call through the rules: latency, errors before sending, quotas, lost responses. */
  async around<T>(operation: string, input: unknown, send: () => Promise<T>): Promise<T> {
    this.count(this.stats.calls, operation);
    this.stats.totals.calls += 1;
    this.changed();
    const text = this.needsInput ? inputText(input) : '';
    let delayBefore = 0;
    let delayAfter = 0;
    let fault: { kind: FaultKind; rule: FaultRule } | undefined;
    for (const rule of this.spec.rules) {
      if (!rule.operations.some((glob) => operationMatches(glob, operation))) continue;
      if (rule.match !== undefined && !text.includes(rule.match)) continue;
      if (rule.times !== undefined && (this.hits.get(rule) ?? 0) >= rule.times) continue;
      if (this.random() >= rule.rate) continue;
      const isError = rule.kinds.length > 0;
      if (isError && fault) continue;
      this.hits.set(rule, (this.hits.get(rule) ?? 0) + 1);
      delayBefore += rule.delayMs ?? 0;
      delayAfter += rule.delayAfterMs ?? 0;
      if (isError)
        fault = { kind: rule.kinds[Math.floor(this.random() * rule.kinds.length)] ?? 'throttling', rule };
    }
    if (delayBefore > 0 || delayAfter > 0) {
      this.count(this.stats.delayed, operation);
      this.stats.totals.delayed += 1;
      this.changed();
    }
    if (delayBefore > 0) await this.sleep(delayBefore);

    if (fault && fault.kind !== 'lost-response') {
      if (fault.kind === 'timeout' && fault.rule.timeoutMs) await this.sleep(fault.rule.timeoutMs);
      throw this.inject(fault.kind, operation);
    }
    const bucket = this.buckets.get(operation);
    if (bucket && !bucket.take()) {
      this.stats.totals.quota += 1;
      throw this.inject('quota', operation, `above ${bucket.ratePerSecond}/s`);
    }
    // AWS answers (a result or its own error); the latency and the loss apply to either.
    const answer = await send().then(
      (value) => ({ ok: true as const, value }),
      (error: unknown) => ({ ok: false as const, error }),
    );
    if (delayAfter > 0) await this.sleep(delayAfter);
    if (fault?.kind === 'lost-response') throw this.inject('lost-response', operation);
    if (!answer.ok) throw answer.error;
    return answer.value;
  }

  private inject(kind: FaultKind | 'quota', operation: string, detail = ''): Error {
    const byKind = this.stats.injected[operation] ?? {};
    this.stats.injected[operation] = byKind;
    byKind[kind] = (byKind[kind] ?? 0) + 1;
    if (kind !== 'quota') this.stats.totals.injected += 1;
    this.changed();
    return injectedError(kind, operation, detail);
  }

  private count(map: Record<string, number>, key: string): void {
    map[key] = (map[key] ?? 0) + 1;
  }

  /** Report files are rewritten at most twice a second, so a SIGKILLed process loses little. */
  private changed(): void {
    if (!this.spec.reportFile || this.reportTimer) return;
    this.reportTimer = setTimeout(() => {
      this.reportTimer = undefined;
      try {
        this.flush();
      } catch {
        // a report is best effort; the faults themselves must not fail on it
      }
    }, 500);
    this.reportTimer.unref();
  }
}
