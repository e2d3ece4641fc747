/**
 * Whether this process traces: OTEL_EXPORTER_OTLP_ENDPOINT set turns OpenTelemetry traces on, unset
 * leaves them off and nothing of OpenTelemetry is loaded (./index.ts imports the SDK only then).
 * The other OTEL_* variables (headers, service name, resource attributes, sampler) are read by the
 * OpenTelemetry SDK itself, as its specification says.
 */
import { ConfigError, type Env } from '../config/index.js';

/** The OTLP protocol this build exports with (the specification's default). */
const PROTOCOL = 'http/protobuf';

export interface TracingSettings {
  /** OTEL_EXPORTER_OTLP_ENDPOINT: the collector's OTLP/HTTP base URL; spans go to `<it>/v1/traces`. */
  readonly endpoint: string;
}

/** The settings, or undefined when tracing is off. ConfigError names a wrong variable. */
export function readTracingSettings(env: Env = process.env): TracingSettings | undefined {
  const endpoint = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  if (!endpoint) return undefined;
  const lines: string[] = [];
  if (!isHttpUrl(endpoint)) {
    lines.push(
      `OTEL_EXPORTER_OTLP_ENDPOINT: ${JSON.stringify(redactUrl(endpoint).slice(0, 80))} is not an http(s) URL. Fix: set it to the OpenTelemetry collector's OTLP/HTTP address, e.g. http://otel-collector:4318, or unset it to turn traces off`,
    );
  }
  const protocol = env.OTEL_EXPORTER_OTLP_PROTOCOL?.trim();
  if (protocol && protocol !== PROTOCOL) {
    lines.push(
      `OTEL_EXPORTER_OTLP_PROTOCOL: ${JSON.stringify(protocol.slice(0, 40))} is not supported: solar-iot exports traces over ${PROTOCOL} only. Fix: unset it or set ${PROTOCOL}, and point OTEL_EXPORTER_OTLP_ENDPOINT at the collector's OTLP/HTTP port (4318 by default)`,
    );
  }
  if (lines.length > 0) throw new ConfigError(lines);
  return { endpoint };
}

function isHttpUrl(value: string): boolean {
  try {
    const { protocol } = new URL(value);
    return protocol === 'http:' || protocol === 'https:';
  } catch {
    return false;
  }
}

/** The URL without user and password, for messages and logs (a collector's URL may carry them). */
export function redactUrl(value: string): string {
  try {
    const url = new URL(value);
    if (!url.username && !url.password) return value;
    url.username = '';
    url.password = '';
    return url.toString();
  } catch {
    return value.replace(/\/\/[^/@]*@/, '//');
  }
}
