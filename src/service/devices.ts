/**
 * Talking to a plant's devices: its thing shadow, commands on its MQTT topics, and its topic
 * rule. Only an active plant has a thing; with IoT disabled every call is a 409.
 */
import { randomUUID } from 'node:crypto';
import type { IotMode } from '../config/index.js';
import { commandTopicFor } from '../iot/naming.js';
import { assertCommandName, assertCommandParams, assertQos, encodeCommand } from './commands.js';
import type { ServiceContext } from './context.js';
import { ConflictError, ShadowVersionConflictError } from './errors.js';
import { requireDevices } from './mode.js';
import { type PlantView, requirePlant, requirePlantByIdOrThingName } from './plants.js';
import type { RuleResult } from './rules.js';
import {
  assertDesiredState,
  assertShadowName,
  assertVersion,
  type ShadowDocument,
  type ShadowOptions,
  type ShadowState,
  ShadowStoreConflict,
  type UpdateShadowOptions,
} from './shadows.js';

export interface ShadowView extends ShadowDocument {
  iotMode: IotMode;
  plantId: string;
  thingName: string;
  shadowName: string | null;
}

export interface CommandOutcome {
  iotMode: IotMode;
  plantId: string;
  topic: string;
  commandId: string;
  qos: 0 | 1;
}

/** The thing a shadow or command talks to: only an active plant has one. */
function activeThingOf(plant: PlantView): string {
  if (plant.iotStatus !== 'active' || !plant.thingName) {
    throw new ConflictError(
      'not_provisioned',
      `Plant ${plant.id} has no active IoT thing (iotStatus: ${plant.iotStatus}); provision it first`,
    );
  }
  return plant.thingName;
}

async function activeThing(ctx: ServiceContext, plantId: string): Promise<string> {
  return activeThingOf(await requirePlant(ctx.plants, plantId));
}

/** A shadow's plant and thing, from the plant id or the thing name (the seed passes the latter). */
async function shadowTarget(
  ctx: ServiceContext,
  key: string,
): Promise<{ plantId: string; thingName: string }> {
  const plant = await requirePlantByIdOrThingName(ctx.plants, key);
  return { plantId: plant.id, thingName: activeThingOf(plant) };
}

async function updateShadow(
  ctx: ServiceContext,
  plantOrThing: string,
  desired: ShadowState,
  options: UpdateShadowOptions,
): Promise<ShadowView> {
  assertShadowName(options.shadowName);
  assertDesiredState(desired);
  assertVersion(options.version);
  const store = requireDevices(ctx.backend).shadows;
  const { plantId, thingName } = await shadowTarget(ctx, plantOrThing);
  try {
    const doc = await store.updateDesired(thingName, desired, options);
    return { iotMode: ctx.backend.mode, plantId, thingName, shadowName: options.shadowName ?? null, ...doc };
  } catch (error) {
    if (error instanceof ShadowStoreConflict)
      throw new ShadowVersionConflictError(plantId, options.version ?? -1);
    throw error;
  }
}

async function publish(
  ctx: ServiceContext,
  plantId: string,
  command: string,
  params: unknown,
  qos: 0 | 1,
): Promise<CommandOutcome> {
  assertQos(qos);
  assertCommandParams(params);
  const publisher = requireDevices(ctx.backend).commands;
  await activeThing(ctx, plantId);
  const commandId = randomUUID();
  const topic = commandTopicFor(plantId, command);
  const payload = encodeCommand({ commandId, command, issuedAt: new Date().toISOString(), params });
  await publisher.publish({ topic, payload, qos });
  return { iotMode: ctx.backend.mode, plantId, topic, commandId, qos };
}

export function plantDevices(ctx: ServiceContext) {
  return {
    /**
     * The plant's thing shadow (classic, or named with `shadowName`). `plantOrThing`: the plant id
     * or its thing name (`solar-plant-<id>`, what the seed's callers pass).
     */
    async getThingShadow(plantOrThing: string, options: ShadowOptions = {}): Promise<ShadowView> {
      assertShadowName(options.shadowName);
      const store = requireDevices(ctx.backend).shadows;
      const { plantId, thingName } = await shadowTarget(ctx, plantOrThing);
      const doc = await store.get(thingName, options);
      return {
        iotMode: ctx.backend.mode,
        plantId,
        thingName,
        shadowName: options.shadowName ?? null,
        ...doc,
      };
    },

    /**
     * Merges `desired` into the shadow's desired state (`null` removes a key). With `version`,
     * applies only if the shadow is still at that version, else ShadowVersionConflictError.
     * `plantOrThing`: the plant id or its thing name, as for getThingShadow.
     */
    updateThingShadow(
      plantOrThing: string,
      desired: ShadowState,
      options: UpdateShadowOptions = {},
    ): Promise<ShadowView> {
      return updateShadow(ctx, plantOrThing, desired, options);
    },

    /**
     * Publishes a command to the plant's devices on solar/{plantId}/commands/{command}. The message
     * carries a commandId devices can use to ignore a command they already ran.
     */
    async publishCommand(
      plantId: string,
      command: string,
      params: unknown = {},
      options: { qos?: 0 | 1 } = {},
    ): Promise<CommandOutcome> {
      assertCommandName(command);
      return publish(ctx, plantId, command, params, options.qos ?? 1);
    },

    /** A per-plant telemetry rule, for callers that want one (the shared rule already routes every plant). */
    async createDataIngestionRule(
      plantId: string,
      ruleName?: string,
      description?: string,
    ): Promise<RuleResult> {
      return requireDevices(ctx.backend).rules.createDataIngestionRule(plantId, ruleName, description);
    },

    /** Replaces a rule's SQL and/or description; the SQL is validated before it reaches AWS. */
    async updateRule(
      ruleName: string,
      plantId: string,
      update: { sql?: string; description?: string },
    ): Promise<RuleResult> {
      return requireDevices(ctx.backend).rules.updateRule(ruleName, plantId, update);
    },
  };
}
