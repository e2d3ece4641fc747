import { IoTClient } from '@aws-sdk/client-iot';
import { IoTDataPlaneClient } from '@aws-sdk/client-iot-data-plane';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Config } from '../config/index.js';
import { type FaultInjector, faultInjectorFromEnv } from '../faults/index.js';

export interface AwsClients {
  iot: IoTClient;
  iotData: IoTDataPlaneClient;
  sqs: SQSClient;
  /** Set only in tests and benchmarks (SOLAR_IOT_FAULTS): the fault injector every client goes through. */
  faults?: FaultInjector | undefined;
  destroy(): void;
}

/**
 * AWS SDK clients from configuration. Credentials come from the SDK's default provider chain
 * (roles, SSO, profiles, environment); nothing here requires static keys.
 */
export function createAwsClients(
  config: Config,
  options: { faults?: FaultInjector | undefined } = { faults: faultInjectorFromEnv(process.env) },
): AwsClients {
  const { region, endpointUrl, iotEndpoint } = config.aws;
  const shared = { region, ...(endpointUrl ? { endpoint: endpointUrl } : {}) };
  // Control-plane calls are retried by Temporal (visible in history, bounded by the retry policy),
  // not silently inside the SDK: one attempt each.
  const iot = new IoTClient({ ...shared, maxAttempts: 1 });
  // The data plane lives on the account's ATS endpoint; an emulator serves it on its one port.
  const dataEndpoint = endpointUrl ?? (iotEndpoint ? `https://${iotEndpoint}` : undefined);
  const iotData = new IoTDataPlaneClient({ region, ...(dataEndpoint ? { endpoint: dataEndpoint } : {}) });
  const sqs = new SQSClient(shared);
  const { faults } = options;
  if (faults) for (const client of [iot, iotData, sqs]) faults.install(client);
  return {
    iot,
    iotData,
    sqs,
    faults,
    destroy() {
      faults?.flush();
      iot.destroy();
      iotData.destroy();
      sqs.destroy();
    },
  };
}
