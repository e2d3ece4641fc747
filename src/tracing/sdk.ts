/**
 * The OpenTelemetry SDK of a process that traces, loaded by ./index.ts only when
 * OTEL_EXPORTER_OTLP_ENDPOINT is set: a Node tracer provider (the process's global tracer, context
 * in AsyncLocalStorage, W3C trace context propagation) exporting over OTLP/HTTP in batches, and
 * the pieces that make spans: Temporal's interceptors for clients, activities and (through the
 * `exporter` sink) workflows, and our own spans of HTTP requests and AWS calls.
 *
 * The OpenTelemetry JS 1.x line: @temporalio/interceptors-opentelemetry 1.24 is built on it (its
 * workflow spans reach the processor as 1.x spans), so the tree keeps one copy of each package.
 */
import { format } from 'node:util';
import { context, type DiagLogger, DiagLogLevel, diag, propagation, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { detectResourcesSync, envDetectorSync, Resource } from '@opentelemetry/resources';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import {
  makeWorkflowExporter,
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
  OpenTelemetryWorkflowClientInterceptor,
} from '@temporalio/interceptors-opentelemetry';
import type { Logger } from '../logging/index.js';
import { installAwsCallSpans } from './aws-spans.js';
import { WithoutErrorText } from './error-text.js';
import { installHttpSpans } from './http-spans.js';
import type { TracingSettings } from './settings.js';
import type { StartTracingOptions, Tracing } from './types.js';

export function createTracing(_settings: TracingSettings, options: StartTracingOptions): Tracing {
  // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (the env detector) win over our default name.
  const resource = new Resource({ 'service.name': `solar-iot-${options.role}` }).merge(
    detectResourcesSync({ detectors: [envDetectorSync] }),
  );
  // The exporter reads OTEL_EXPORTER_OTLP_ENDPOINT (spans to <it>/v1/traces), _HEADERS, _TIMEOUT.
  const processor = new WithoutErrorText(new BatchSpanProcessor(options.exporter ?? new OTLPTraceExporter()));
  const provider = new NodeTracerProvider({ resource, spanProcessors: [processor] });
  provider.register();
  if (options.logger) diag.setLogger(diagLogger(options.logger), DiagLogLevel.WARN);
  const tracer = trace.getTracer('solar-iot');
  return {
    client: { workflow: [new OpenTelemetryWorkflowClientInterceptor()] },
    worker: {
      activity: [
        (ctx) => ({
          inbound: new OpenTelemetryActivityInboundInterceptor(ctx),
          outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
        }),
      ],
      // Workflow spans are made in the sandbox and handed out after each activation, never
      // during a replay; they go through the same processor, so they lose their error text too.
      sinks: { exporter: makeWorkflowExporter(processor, resource) },
    },
    aws: { install: (client) => installAwsCallSpans(client, tracer) },
    http: { install: (app, spans) => installHttpSpans(app, tracer, spans) },
    flush: () => provider.forceFlush(),
    async shutdown() {
      // A collector that is down costs the last spans, not a clean stop of the process.
      await provider
        .shutdown()
        .catch((error: unknown) =>
          options.logger?.warn(`OpenTelemetry: the last spans were not exported: ${String(error)}`),
        );
      trace.disable();
      context.disable();
      propagation.disable();
      diag.disable();
    },
  };
}

/** The SDK's warnings and errors (a collector that cannot be reached) as warnings of our log. */
function diagLogger(logger: Logger): DiagLogger {
  const warn = (message: string, ...args: unknown[]) =>
    logger.warn(`OpenTelemetry: ${format(message, ...args)}`);
  const ignore = () => undefined;
  return { error: warn, warn, info: ignore, debug: ignore, verbose: ignore };
}
