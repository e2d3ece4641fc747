/**
 * Optional OpenTelemetry traces of the worker and the API: with OTEL_EXPORTER_OTLP_ENDPOINT set,
 * one provision is one trace, from the API's request span through Temporal (the client
 * interceptor puts the trace context in the workflow's Temporal headers; the workflow
 * interceptors, bundled in the traced workflow bundle, carry it to each activity) down to a span
 * per AWS call. Unset, startTracing returns undefined and the SDK (./sdk.ts) is never imported:
 * this module and ./settings.ts load nothing of OpenTelemetry, ./types.ts is types only.
 */
import type { TracingSettings } from './settings.js';
import type { StartTracingOptions, Tracing } from './types.js';

export { readTracingSettings, type TracingSettings } from './settings.js';
export type { StartTracingOptions, Tracing, WorkerTracing } from './types.js';

/** The process's tracing, or undefined when `settings` is (OTEL_EXPORTER_OTLP_ENDPOINT unset). */
export async function startTracing(
  settings: TracingSettings | undefined,
  options: StartTracingOptions,
): Promise<Tracing | undefined> {
  if (!settings) return undefined;
  const { createTracing } = await import('./sdk.js');
  return createTracing(settings, options);
}
