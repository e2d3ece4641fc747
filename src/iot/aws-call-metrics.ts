/**
 * Every AWS call a process makes, by service, operation and outcome, for its Prometheus registry:
 * an SDK middleware on each client (createAwsClients). It sits inside the SDK's retry loop, so an
 * attempt the SDK retries counts once per attempt: a throttled attempt is visible even when the
 * retry that follows succeeds.
 */
import type { IoTClient } from '@aws-sdk/client-iot';
import type { IoTDataPlaneClient } from '@aws-sdk/client-iot-data-plane';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { Counter, Histogram, type Registry } from 'prom-client';
import { awsErrorName } from './aws-errors.js';

export const AWS_CALL_OUTCOMES = [
  'success',
  'throttled',
  'client_error',
  'server_error',
  'network_error',
] as const;
export type AwsCallOutcome = (typeof AWS_CALL_OUTCOMES)[number];

const THROTTLED = new Set([
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'SlowDown',
]);

/** What an operator acts on: throttling (slow down, raise the quota) apart from other 4xx and 5xx. */
export function awsCallOutcome(error: unknown): AwsCallOutcome {
  if (error === undefined) return 'success';
  const e = error as { $fault?: string; $metadata?: { httpStatusCode?: number } };
  const status = e?.$metadata?.httpStatusCode;
  if (THROTTLED.has(awsErrorName(error)) || status === 429) return 'throttled';
  if (status === undefined) return 'network_error';
  return status >= 500 || e.$fault === 'server' ? 'server_error' : 'client_error';
}

export class AwsCallMetrics {
  readonly calls: Counter<'service' | 'operation' | 'outcome'>;
  readonly seconds: Histogram<'service' | 'operation'>;

  constructor(registry: Registry) {
    this.calls = new Counter({
      name: 'solar_iot_aws_calls_total',
      help: 'AWS API call attempts by service (IoT, IoTDataPlane, SQS), operation and outcome (success, throttled, client_error, server_error, network_error)',
      labelNames: ['service', 'operation', 'outcome'],
      registers: [registry],
    });
    this.seconds = new Histogram({
      name: 'solar_iot_aws_call_duration_seconds',
      help: 'Duration of each AWS API call attempt, by service and operation',
      labelNames: ['service', 'operation'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    });
  }

  /** Adds the counting middleware to `client` (before any fault injector, so it sees injected faults). */
  install(client: IoTClient | IoTDataPlaneClient | SQSClient): void {
    // One middleware type for the three clients: their stacks differ only in input/output types.
    (client as IoTClient).middlewareStack.add(
      (next, context) => async (args) => {
        const service = String(context.clientName ?? 'Unknown').replace(/Client$/, '');
        const operation = String(context.commandName ?? 'Unknown').replace(/Command$/, '');
        const end = this.seconds.startTimer({ service, operation });
        try {
          const result = await next(args);
          this.calls.inc({ service, operation, outcome: 'success' });
          return result;
        } catch (error) {
          this.calls.inc({ service, operation, outcome: awsCallOutcome(error) });
          throw error;
        } finally {
          end();
        }
      },
      { step: 'deserialize', priority: 'high', name: 'solarIotAwsCallMetrics' },
    );
  }
}
