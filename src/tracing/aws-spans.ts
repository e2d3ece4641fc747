/**
 * One span per AWS call, `<service>.<operation>` (e.g. `IoT.CreateThing`), child of whatever span
 * is active where the call is made (the activity's). An SDK middleware in the `initialize` step:
 * the span covers the whole call, the SDK's own retries included (control-plane calls make one
 * attempt; Temporal retries them, each retry another activity span). It records the operation,
 * the request id and, on failure, the error's name and HTTP status: never the request or the
 * answer, nor the error's message.
 */
import type { IoTClient } from '@aws-sdk/client-iot';
import type { IoTDataPlaneClient } from '@aws-sdk/client-iot-data-plane';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { SpanKind, SpanStatusCode, type Tracer } from '@opentelemetry/api';
import { awsErrorName } from '../iot/aws-errors.js';

interface Metadata {
  $metadata?: { httpStatusCode?: number; requestId?: string };
}

export function installAwsCallSpans(
  client: IoTClient | IoTDataPlaneClient | SQSClient,
  tracer: Tracer,
): void {
  // One middleware type for the three clients: their stacks differ only in input/output types.
  (client as IoTClient).middlewareStack.add(
    (next, context) => async (args) => {
      const service = String(context.clientName ?? 'Unknown').replace(/Client$/, '');
      const operation = String(context.commandName ?? 'Unknown').replace(/Command$/, '');
      const span = tracer.startSpan(`${service}.${operation}`, {
        kind: SpanKind.CLIENT,
        attributes: { 'rpc.system': 'aws-api', 'rpc.service': service, 'rpc.method': operation },
      });
      try {
        const result = await next(args);
        setMetadata(span, (result.output as Metadata).$metadata);
        return result;
      } catch (error) {
        setMetadata(span, (error as Metadata).$metadata);
        span.setAttribute('error.type', awsErrorName(error));
        span.setStatus({ code: SpanStatusCode.ERROR });
        throw error;
      } finally {
        span.end();
      }
    },
    { step: 'initialize', priority: 'high', name: 'solarIotAwsCallSpans' },
  );
}

function setMetadata(
  span: { setAttribute(key: string, value: string | number): unknown },
  metadata: Metadata['$metadata'],
): void {
  if (metadata?.httpStatusCode !== undefined)
    span.setAttribute('http.response.status_code', metadata.httpStatusCode);
  if (metadata?.requestId) span.setAttribute('aws.request_id', metadata.requestId);
}
