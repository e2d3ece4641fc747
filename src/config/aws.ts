import type { Config } from './types.js';

/**
 * Where the telemetry rule's error action sends a delivery that failed, unless
 * AWS_SQS_DEAD_LETTER_QUEUE_URL names a queue: beside the telemetry queue, its name with `-dlq`.
 * None beside a FIFO queue: no IoT rule can deliver to one, so nothing would fail into it.
 */
export function defaultDeadLetterQueueUrl(queueUrl: string | undefined): string | undefined {
  if (!queueUrl || queueUrl.endsWith('.fifo')) return undefined;
  return `${queueUrl.replace(/\/+$/, '')}-dlq`;
}

/** IoT provisioning runs when USE_AWS_IOT is on and a region is set, or in mock mode. */
export function isAwsIotEnabled(config: Config): boolean {
  if (config.iot.mode === 'mock') return true;
  return config.iot.mode === 'aws' && config.aws.region !== '';
}

/**
 * Resolves AWS credentials through the SDK default provider chain (no call to AWS), so start-up
 * can degrade gracefully (plants recorded without IoT) with a clear reason instead of failing every provision.
 */
export async function checkAwsCredentials(
  config: Config,
): Promise<{ ok: true } | { ok: false; problem: string }> {
  if (config.iot.mode !== 'aws') return { ok: true };
  const { IoTClient } = await import('@aws-sdk/client-iot');
  const client = new IoTClient({ region: config.aws.region, endpoint: config.aws.endpointUrl });
  try {
    const creds = await client.config.credentials();
    return creds.accessKeyId
      ? { ok: true }
      : { ok: false, problem: 'the provider chain returned no access key' };
  } catch (err) {
    return {
      ok: false,
      problem: `no AWS credentials found by the SDK default provider chain (${err instanceof Error ? err.message.split('\n')[0] : String(err)}); configure a profile (AWS_PROFILE / aws sso login), a role, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY`,
    };
  } finally {
    client.destroy();
  }
}
