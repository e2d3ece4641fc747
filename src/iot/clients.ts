import { IoTClient } from '@aws-sdk/client-iot';
import { IoTDataPlaneClient } from '@aws-sdk/client-iot-data-plane';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Config } from '../config/index.js';

export interface AwsClients {
  iot: IoTClient;
  iotData: IoTDataPlaneClient;
  sqs: SQSClient;
  destroy(): void;
}

/**
 * AWS SDK clients from configuration. Credentials come from the SDK's default provider chain
 * (roles, SSO, profiles, environment); nothing here requires static keys.
 */
export function createAwsClients(config: Config): AwsClients {
  const { region, endpointUrl, iotEndpoint } = config.aws;
  const shared = { region, ...(endpointUrl ? { endpoint: endpointUrl } : {}) };
  // Control-plane calls are retried by Temporal (visible in history, bounded by the retry policy),
  // not silently inside the SDK: one attempt each.
  const iot = new IoTClient({ ...shared, maxAttempts: 1 });
  // The data plane lives on the account's ATS endpoint; an emulator serves it on its one port.
  const dataEndpoint = endpointUrl ?? (iotEndpoint ? `https://${iotEndpoint}` : undefined);
  const iotData = new IoTDataPlaneClient({ region, ...(dataEndpoint ? { endpoint: dataEndpoint } : {}) });
  const sqs = new SQSClient(shared);
  return {
    iot,
    iotData,
    sqs,
    destroy() {
      iot.destroy();
      iotData.destroy();
      sqs.destroy();
    },
  };
}
