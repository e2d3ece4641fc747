/** moto helpers: endpoint and credentials for AWS SDK clients, and a full state reset. */
import { inject } from 'vitest';

export interface AwsClientConfig {
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
}

/** Spread into any AWS SDK v3 client: `new IoTClient(awsClientConfig())`. */
export function awsClientConfig(): AwsClientConfig {
  const stack = inject('stack');
  return {
    endpoint: stack.AWS_ENDPOINT_URL,
    region: stack.AWS_REGION,
    credentials: { accessKeyId: stack.AWS_ACCESS_KEY_ID, secretAccessKey: stack.AWS_SECRET_ACCESS_KEY },
  };
}

/** Drops every resource in moto (all services, all regions): `POST /moto-api/reset`. */
export async function resetMoto(): Promise<void> {
  const res = await fetch(new URL('/moto-api/reset', inject('stack').AWS_ENDPOINT_URL), { method: 'POST' });
  if (!res.ok) throw new Error(`moto reset failed: HTTP ${res.status} ${await res.text()}`);
}
