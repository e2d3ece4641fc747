/** Commands to a plant's devices: MQTT messages on solar/{plantId}/commands/{command}. */
import { type IoTDataPlaneClient, PublishCommand } from '@aws-sdk/client-iot-data-plane';
import { mapAwsUnavailable } from './aws.js';
import { InvalidInputError } from './errors.js';
import { jsonDepthExceeds } from './json-depth.js';

export interface PublishedMessage {
  topic: string;
  payload: string;
  qos: 0 | 1;
}

export interface CommandPublisher {
  publish(message: PublishedMessage): Promise<void>;
}

const COMMAND_NAME = /^[A-Za-z0-9_-]{1,64}$/;
/** AWS IoT's MQTT message size limit. */
export const MAX_COMMAND_BYTES = 128 * 1024;
/** Our bound (AWS sets none for MQTT payloads): far above any device parameter, and safe to serialize. */
export const MAX_COMMAND_PARAMS_DEPTH = 16;

export interface CommandEnvelope {
  /** Devices use it to drop a command they already executed. */
  commandId: string;
  command: string;
  issuedAt: string;
  params: unknown;
}

export function assertCommandName(command: unknown): asserts command is string {
  if (typeof command !== 'string' || !COMMAND_NAME.test(command)) {
    throw new InvalidInputError(
      `Command ${JSON.stringify(command)} is invalid: use 1 to 64 letters, digits, "_" or "-" (it becomes an MQTT topic level)`,
    );
  }
}

export function assertQos(qos: unknown): asserts qos is 0 | 1 {
  if (qos !== 0 && qos !== 1)
    throw new InvalidInputError('qos must be 0 or 1 (AWS IoT does not support QoS 2)');
}

export function assertCommandParams(params: unknown): void {
  if (jsonDepthExceeds(params, MAX_COMMAND_PARAMS_DEPTH)) {
    throw new InvalidInputError(
      `The command params nest deeper than ${MAX_COMMAND_PARAMS_DEPTH} levels; at most ${MAX_COMMAND_PARAMS_DEPTH} are accepted`,
      'params_too_deep',
    );
  }
}

export function encodeCommand(envelope: CommandEnvelope): string {
  const text = JSON.stringify(envelope);
  const size = Buffer.byteLength(text);
  if (size > MAX_COMMAND_BYTES) {
    throw new InvalidInputError(
      `The command message is ${size} bytes; AWS IoT accepts at most ${MAX_COMMAND_BYTES}`,
    );
  }
  return text;
}

export function awsCommandPublisher(iotData: IoTDataPlaneClient): CommandPublisher {
  return {
    async publish({ topic, payload, qos }) {
      try {
        await iotData.send(
          new PublishCommand({ topic, qos, payload: Buffer.from(payload), contentType: 'application/json' }),
        );
      } catch (error) {
        throw mapAwsUnavailable(error, 'Publish');
      }
    },
  };
}

/** Mock mode: messages are kept in memory (newest last) instead of being sent. */
export function mockCommandPublisher(): CommandPublisher & { readonly sent: PublishedMessage[] } {
  const sent: PublishedMessage[] = [];
  return {
    sent,
    async publish(message) {
      sent.push(message);
      if (sent.length > 1000) sent.shift();
    },
  };
}
