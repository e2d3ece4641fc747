/** What a process that traces gets from ./sdk.ts; types only, so ./index.ts loads nothing of OpenTelemetry. */
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { ClientInterceptors } from '@temporalio/client';
import type { ActivityInterceptorsFactory, InjectedSinks } from '@temporalio/worker';
import type { FastifyInstance } from 'fastify';
import type { AwsClientInstaller } from '../iot/clients.js';
import type { Logger } from '../logging/index.js';
import type { HttpSpanOptions } from './http-spans.js';

/** What a worker adds to its workers (src/worker/workers.ts) when it traces. */
export interface WorkerTracing {
  /** Each activity in a span, child of the workflow's span (trace context from the activity's headers). */
  readonly activity: readonly ActivityInterceptorsFactory[];
  /** The sink the workflow interceptors export their spans through, out of the sandbox. */
  // biome-ignore lint/suspicious/noExplicitAny: the interceptors' own sink type, opaque here
  readonly sinks: InjectedSinks<any>;
}

export interface Tracing {
  /** For every Temporal client of the process: starts, signals and queries carry the trace context. */
  readonly client: ClientInterceptors;
  readonly worker: WorkerTracing;
  /** A span per AWS call (createAwsClients' `tracing`). */
  readonly aws: AwsClientInstaller;
  /**
   * A span per HTTP request of a fastify app, the route's handler running inside it; joined to the
   * caller's trace only when `honoursTraceContext` says so (./http-spans.ts).
   */
  readonly http: { install(app: FastifyInstance, options: HttpSpanOptions): void };
  /** Exports the spans ended so far. */
  flush(): Promise<void>;
  /** Exports what is left and stops; the process's global tracer is gone after it. */
  shutdown(): Promise<void>;
}

export interface StartTracingOptions {
  /** `service.name` is `solar-iot-<role>` unless OTEL_SERVICE_NAME says otherwise. */
  role: 'worker' | 'api';
  /** Where the SDK's own problems go (an unreachable collector), as warnings. */
  logger?: Logger | undefined;
  /** Where spans go instead of the OTLP exporter (tests give an InMemorySpanExporter). */
  exporter?: SpanExporter | undefined;
}
