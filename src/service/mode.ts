/**
 * The IoT mode of a service instance, chosen once: one value that carries everything that
 * differs between `aws`, `mock` and `disabled`, so the operations never branch on the mode to
 * find their shadows, commands or rules.
 */
import { DescribeCertificateCommand, type IoTClient, ListThingsCommand } from '@aws-sdk/client-iot';
import type { IoTDataPlaneClient } from '@aws-sdk/client-iot-data-plane';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { Config, IotMode } from '../config/index.js';
import { mockShadowStore } from '../mock/shadows.js';
import { awsCommandPublisher, type CommandPublisher, mockCommandPublisher } from './commands.js';
import { type DeadLetterDepth, deadLetterDepth } from './dead-letters.js';
import { ConflictError } from './errors.js';
import { awsRuleManager, mockRuleManager, type RuleManager } from './rules.js';
import { awsShadowStore, type ShadowStore } from './shadows.js';

/** What a plant's devices are reached through: AWS IoT, or memory in mock mode. */
export interface DeviceChannels {
  shadows: ShadowStore;
  commands: CommandPublisher;
  rules: RuleManager;
}

export interface ModeDeps {
  config: Config;
  /** Required in `aws` mode (`sqs` for the dead-letter queue's depth); never used in the others. */
  aws?: { iot: IoTClient; iotData: IoTDataPlaneClient; sqs?: SQSClient | undefined } | undefined;
  /**
   * Why IoT is off although the configuration asks for AWS (e.g. no credentials found): the
   * instance then runs in `disabled` mode. See `resolveIotMode`.
   */
  degradedReason?: string | null | undefined;
  /** Mock mode stores; default: fresh in-memory ones. */
  mock?: { shadows?: ShadowStore; commands?: CommandPublisher; rules?: RuleManager } | undefined;
}

export interface IotBackend {
  mode: IotMode;
  /** Why IoT is off: set in `disabled` mode only. */
  disabledReason: string | null;
  /** null in `disabled` mode: nothing reaches a device. */
  devices: DeviceChannels | null;
  /** The readiness answer about AWS: reachable (aws), or why it is not used. Throws when unreachable. */
  probeAws(): Promise<string>;
  /** The telemetry rules' dead-letter queue: its depth (aws), or the 409 saying there is none. */
  deadLetters(): Promise<DeadLetterDepth>;
  /**
   * A certificate's PEM as AWS serves it (public: no key), for the device that sent its CSR;
   * null in mock mode, which issues no certificate.
   */
  certificatePem(certificateId: string): Promise<string | null>;
}

/** `disabled` when the configuration asks for AWS but `degradedReason` says it cannot work. */
export function effectiveMode(config: Config, degradedReason?: string | null): IotMode {
  return config.iot.mode === 'aws' && degradedReason ? 'disabled' : config.iot.mode;
}

export function chooseBackend(deps: ModeDeps): IotBackend {
  const { config } = deps;
  const mode = effectiveMode(config, deps.degradedReason);
  switch (mode) {
    case 'aws': {
      if (!deps.aws) throw new Error('createSolarIot: AWS clients are required in aws mode');
      const { iot, iotData, sqs } = deps.aws;
      const rules = awsRuleManager(iot, {
        sqsQueueUrl: config.aws.sqsQueueUrl,
        iotRoleArn: config.aws.iotRoleArn,
        deadLetterQueueUrl: config.aws.deadLetterQueueUrl,
      });
      return {
        mode,
        disabledReason: null,
        devices: { shadows: awsShadowStore(iotData), commands: awsCommandPublisher(iotData), rules },
        async probeAws() {
          await iot.send(new ListThingsCommand({ maxResults: 1 }));
          return `reachable${config.aws.endpointUrl ? ` at ${config.aws.endpointUrl}` : ''} (${config.aws.region})`;
        },
        deadLetters: () => deadLetterDepth(sqs, config.aws.deadLetterQueueUrl),
        async certificatePem(certificateId) {
          const { certificateDescription } = await iot.send(
            new DescribeCertificateCommand({ certificateId }),
          );
          return certificateDescription?.certificatePem ?? null;
        },
      };
    }
    case 'mock':
      return {
        mode,
        disabledReason: null,
        devices: {
          shadows: deps.mock?.shadows ?? mockShadowStore(),
          commands: deps.mock?.commands ?? mockCommandPublisher(),
          rules: deps.mock?.rules ?? mockRuleManager(),
        },
        probeAws: async () => 'not used (mock mode)',
        certificatePem: async () => null,
        deadLetters: async () => {
          throw new ConflictError(
            'no_dead_letter_queue',
            'Mock mode (USE_MOCK_DATA=true) has no telemetry rule in AWS, so no dead-letter queue',
          );
        },
      };
    case 'disabled': {
      const reason = deps.degradedReason ?? 'USE_AWS_IOT=false';
      return {
        mode,
        disabledReason: reason,
        devices: null,
        probeAws: async () => `not used (${reason})`,
        certificatePem: async () => {
          throw new ConflictError('iot_disabled', `AWS IoT is disabled (${reason}): no certificates`);
        },
        deadLetters: async () => {
          throw new ConflictError(
            'iot_disabled',
            `AWS IoT is disabled (${reason}): no telemetry rule, no dead-letter queue`,
          );
        },
      };
    }
  }
}

export function iotDisabledMessage(backend: IotBackend): string {
  return `AWS IoT is disabled (${backend.disabledReason}); set USE_AWS_IOT=true with AWS credentials, or USE_MOCK_DATA=true`;
}

/** The device channels, or the 409 that says how to turn IoT on. */
export function requireDevices(backend: IotBackend): DeviceChannels {
  if (backend.devices === null) throw new ConflictError('iot_disabled', iotDisabledMessage(backend));
  return backend.devices;
}
