import { IoTClient } from '@aws-sdk/client-iot';
import { IoTDataPlaneClient } from '@aws-sdk/client-iot-data-plane';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Config } from '../config/index.js';
import type { AwsCallMetrics } from './aws-call-metrics.js';

/**
 * Something every AWS client goes through: in production nothing; in tests, benchmarks and the
 * local stack the fault injector of tools/faults, handed in by their entry points (production
 * code never builds one).
 */
export interface AwsClientInterceptor {
  /** Adds its middleware to the client. */
  install(client: IoTClient | IoTDataPlaneClient | SQSClient): unknown;
  /** Called when the clients are destroyed (e.g. to write a report). */
  flush(): void;
}

/** Something that adds its middleware to each client (the trace spans of src/tracing). */
export interface AwsClientInstaller {
  install(client: IoTClient | IoTDataPlaneClient | SQSClient): unknown;
}

export interface AwsClientsOptions {
  interceptor?: AwsClientInterceptor | undefined;
  /** One span per call, when traces are on (OTEL_EXPORTER_OTLP_ENDPOINT; src/tracing). */
  tracing?: AwsClientInstaller | undefined;
  /** Counts every call in the process's Prometheus registry (worker, API). */
  metrics?: AwsCallMetrics | undefined;
}

export interface AwsClients {
  iot: IoTClient;
  iotData: IoTDataPlaneClient;
  sqs: SQSClient;
  /** The interceptor installed on every client, if any. */
  interceptor?: AwsClientInterceptor | undefined;
  destroy(): void;
}

/**
 * AWS SDK clients from configuration. Credentials come from the SDK's default provider chain
 * (roles, SSO, profiles, environment); nothing here requires static keys.
 */
export function createAwsClients(config: Config, options: AwsClientsOptions = {}): AwsClients {
  const { region, endpointUrl, iotEndpoint } = config.aws;
  const shared = { region, ...(endpointUrl ? { endpoint: endpointUrl } : {}) };
  // Control-plane calls are retried by Temporal (visible in history, bounded by the retry policy),
  // not silently inside the SDK: one attempt each.
  const iot = new IoTClient({ ...shared, maxAttempts: 1 });
  // The data plane lives on the account's ATS endpoint; an emulator serves it on its one port.
  const dataEndpoint = endpointUrl ?? (iotEndpoint ? `https://${iotEndpoint}` : undefined);
  const iotData = new IoTDataPlaneClient({ region, ...(dataEndpoint ? { endpoint: dataEndpoint } : {}) });
  const sqs = new SQSClient(shared);
  const { interceptor, metrics, tracing } = options;
  // The span wraps the whole call (its `initialize` step, outside the SDK's retries).
  if (tracing) for (const client of [iot, iotData, sqs]) tracing.install(client);
  // The counters first: outside the interceptor, they see the faults it injects as AWS answers.
  if (metrics) for (const client of [iot, iotData, sqs]) metrics.install(client);
  if (interceptor) for (const client of [iot, iotData, sqs]) interceptor.install(client);
  return {
    iot,
    iotData,
    sqs,
    interceptor,
    destroy() {
      interceptor?.flush();
      iot.destroy();
      iotData.destroy();
      sqs.destroy();
    },
  };
}
