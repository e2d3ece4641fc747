/**
 * Thing shadows through the IoT data plane: named shadows, optimistic locking by version.
 * A ShadowStore is either AWS (or moto, which serves the data plane on its one port) or the
 * in-memory mock of mock mode.
 */
import {
  GetThingShadowCommand,
  type IoTDataPlaneClient,
  UpdateThingShadowCommand,
} from '@aws-sdk/client-iot-data-plane';
import { isAwsError } from '../iot/aws-errors.js';
import { mapAwsUnavailable } from './aws.js';
import { InvalidInputError, NotFoundError } from './errors.js';
import { jsonDepthExceeds } from './json-depth.js';

export type ShadowState = Record<string, unknown>;

export interface ShadowDocument {
  state: { desired?: ShadowState | null; reported?: ShadowState | null; delta?: ShadowState };
  metadata?: unknown;
  version: number;
  timestamp: number;
}

export interface ShadowOptions {
  /** A named shadow; the classic (unnamed) shadow when absent. */
  shadowName?: string | undefined;
}

export interface UpdateShadowOptions extends ShadowOptions {
  /** Apply only if the shadow is still at this version (optimistic locking). */
  version?: number | undefined;
}

/** A version mismatch, before the plant-aware error is built around it. */
export class ShadowStoreConflict extends Error {
  override readonly name = 'ShadowStoreConflict';
}

export interface ShadowStore {
  get(thingName: string, options: ShadowOptions): Promise<ShadowDocument>;
  updateDesired(
    thingName: string,
    desired: ShadowState,
    options: UpdateShadowOptions,
  ): Promise<ShadowDocument>;
}

const SHADOW_NAME = /^[a-zA-Z0-9:_-]{1,64}$/;
/** AWS IoT's limit on a shadow document's state. */
export const MAX_SHADOW_STATE_BYTES = 8 * 1024;
/**
 * AWS IoT's limit on nesting in a shadow's desired or reported section ("JSON contains too many
 * levels of nesting; maximum is 6", Device Shadow error messages). Objects and arrays count a
 * level each, the desired object itself included: `{"a": {"b": 1}}` is 2.
 */
export const MAX_SHADOW_STATE_DEPTH = 6;

export function assertShadowName(shadowName: string | undefined): void {
  if (shadowName !== undefined && !SHADOW_NAME.test(shadowName)) {
    throw new InvalidInputError(
      `Shadow name ${JSON.stringify(shadowName)} is invalid: use 1 to 64 letters, digits, ":", "_" or "-"`,
    );
  }
}

export function assertDesiredState(desired: unknown): asserts desired is ShadowState {
  if (typeof desired !== 'object' || desired === null || Array.isArray(desired)) {
    throw new InvalidInputError(
      'The desired state must be a JSON object, e.g. {"powerLimit": 1000, "mode": "auto"}',
    );
  }
  if (jsonDepthExceeds(desired, MAX_SHADOW_STATE_DEPTH)) {
    throw new InvalidInputError(
      `The desired state nests deeper than ${MAX_SHADOW_STATE_DEPTH} levels; AWS IoT accepts at most ${MAX_SHADOW_STATE_DEPTH} levels in a shadow's desired or reported state`,
      'shadow_too_deep',
    );
  }
  const size = Buffer.byteLength(JSON.stringify(desired));
  if (size > MAX_SHADOW_STATE_BYTES) {
    throw new InvalidInputError(
      `The desired state is ${size} bytes; AWS IoT accepts at most ${MAX_SHADOW_STATE_BYTES}`,
    );
  }
}

export function assertVersion(version: unknown): void {
  if (version !== undefined && (typeof version !== 'number' || !Number.isInteger(version) || version < 0)) {
    throw new InvalidInputError('version must be a whole number (the shadow version you read)');
  }
}

function parse(payload: Uint8Array | undefined): ShadowDocument {
  const text = payload ? Buffer.from(payload).toString('utf8') : '{}';
  const doc = JSON.parse(text) as Partial<ShadowDocument>;
  return {
    state: doc.state ?? {},
    metadata: doc.metadata,
    version: doc.version ?? 0,
    timestamp: doc.timestamp ?? 0,
  };
}

export function awsShadowStore(iotData: IoTDataPlaneClient): ShadowStore {
  return {
    async get(thingName, { shadowName }) {
      try {
        const out = await iotData.send(
          new GetThingShadowCommand({ thingName, ...(shadowName ? { shadowName } : {}) }),
        );
        return parse(out.payload);
      } catch (error) {
        if (isAwsError(error, 'ResourceNotFoundException')) {
          throw new NotFoundError(
            'shadow_not_found',
            `Thing ${thingName} has no ${shadowName ? `shadow named ${shadowName}` : 'classic shadow'} yet; set its desired state first`,
          );
        }
        throw mapAwsUnavailable(error, 'GetThingShadow');
      }
    },

    async updateDesired(thingName, desired, { shadowName, version }) {
      const body = { state: { desired }, ...(version !== undefined ? { version } : {}) };
      try {
        const out = await iotData.send(
          new UpdateThingShadowCommand({
            thingName,
            ...(shadowName ? { shadowName } : {}),
            payload: Buffer.from(JSON.stringify(body)),
          }),
        );
        return parse(out.payload);
      } catch (error) {
        if (isAwsError(error, 'ConflictException')) throw new ShadowStoreConflict((error as Error).message);
        if (isAwsError(error, 'InvalidRequestException', 'RequestEntityTooLargeException')) {
          throw new InvalidInputError(`AWS IoT refused the shadow update: ${(error as Error).message}`);
        }
        if (isAwsError(error, 'ResourceNotFoundException')) {
          throw new NotFoundError(
            'thing_not_found',
            `Thing ${thingName} does not exist in AWS IoT; provision the plant again`,
          );
        }
        throw mapAwsUnavailable(error, 'UpdateThingShadow');
      }
    },
  };
}
