/**
 * Creating plants and starting their provision or deprovision. With IoT disabled no workflow
 * starts: the plant's record alone says what happened.
 */
import { randomUUID } from 'node:crypto';
import type { IotMode } from '../config/index.js';
import type { IotStatus } from '../db/schema.js';
import {
  type DeprovisionResult,
  deprovisionWorkflowId,
  type PlantCertificateMode,
  type PlantIotResources,
  type ProvisionPlantInput,
} from '../workflows/contract.js';
import type { ServiceContext } from './context.js';
import { type CertificateChoice, certificateChoice } from './device-csr.js';
import { ConflictError, DependencyUnavailableError, InvalidInputError } from './errors.js';
import { iotDisabledMessage } from './mode.js';
import { assertPlantId, assertPlantName } from './plant-input.js';
import { type PlantStatus, plantStatus } from './plant-reads.js';
import { type PlantView, requirePlant } from './plants.js';
import { NO_TELEMETRY } from './silence.js';
import type { WaitOptions } from './temporal-calls.js';
import { refuseOtherModeRunning, startDeprovisioning, startProvisioning } from './workflow-starters.js';

/** What starting a provision or deprovision answers. */
interface OperationOutcome {
  iotMode: IotMode;
  plantId: string;
  iotStatus: IotStatus;
  /** null when no workflow was started (IoT disabled). */
  workflowId: string | null;
  runId: string | null;
}

export interface ProvisionOutcome extends OperationOutcome {
  /** The mode this provision makes the key in: the one asked for, else the plant's stored one. */
  certificateMode?: PlantCertificateMode;
  /** Present when the provision switched the plant's stored mode (an explicit certificateMode). */
  certificateModeChanged?: { from: PlantCertificateMode; to: PlantCertificateMode };
  /** Present after `wait: true`: the plant's resources (ids and names, never key material). */
  resources?: PlantIotResources;
}

/**
 * A finished provision: the resources also at the top level, where the seed's callers read them
 * (`iotResources.thingName`, `iotResources.certificateId`).
 */
export type ProvisionedPlant = ProvisionOutcome & PlantIotResources & { resources: PlantIotResources };

/** How to provision: wait or not, and where the plant's key is made (CertificateChoice). */
export type ProvisionOptions = WaitOptions & CertificateChoice;

export interface DeprovisionOutcome extends OperationOutcome {
  /** Present after `wait: true`. */
  result?: DeprovisionResult;
}

/**
 * Resource names the seed's callers pass to deprovisionPlantIoT. They are accepted and ignored: the
 * workflow finds what exists itself (our records and AWS), which is safer.
 */
export interface LegacyDeprovisionHints {
  iotThingName?: string | null;
  iotCertificateId?: string | null;
  iotCertificateArn?: string | null;
  iotPolicyName?: string | null;
  iotRuleName?: string | null;
}

/** The outcome of a workflow start: the plant's status as it was, and the run that now acts on it. */
function startedOutcome(
  iotMode: IotMode,
  plantId: string,
  iotStatus: IotStatus,
  handle: { workflowId: string; firstExecutionRunId: string },
): OperationOutcome {
  return { iotMode, plantId, iotStatus, workflowId: handle.workflowId, runId: handle.firstExecutionRunId };
}

async function createPlant(
  ctx: ServiceContext,
  input: { name: string; id?: string | undefined } & CertificateChoice,
): Promise<PlantStatus> {
  const { backend, plants } = ctx;
  assertPlantName(input.name);
  const id = input.id ?? randomUUID();
  assertPlantId(id);
  const choice = certificateChoice(input);
  const created = await plants.insert({
    id,
    name: input.name,
    iotStatus: backend.mode === 'disabled' ? 'disabled' : 'pending',
    certificateMode: choice.certificateMode ?? 'server',
  });
  if (!created)
    throw new ConflictError('plant_exists', `Plant ${id} exists already; choose another id or omit it`);
  if (backend.mode === 'disabled')
    return { iotMode: backend.mode, plant: created, operation: null, telemetry: NO_TELEMETRY };
  try {
    await ctx.calls.call(() =>
      startProvisioning(
        ctx.temporal,
        { plantId: id, plantName: input.name, ...choice },
        { taskQueue: ctx.taskQueue },
      ),
    );
  } catch (error) {
    if (error instanceof DependencyUnavailableError) {
      throw new DependencyUnavailableError(
        'temporal',
        `Plant ${id} was created, but its provisioning could not start (${error.message}); it stays pending: run \`solar-iot provision ${id}\` or \`solar-iot backfill\` once Temporal is back`,
        { cause: error, details: { plantId: id } },
      );
    }
    throw error;
  }
  return plantStatus(ctx, id);
}

async function provision(
  ctx: ServiceContext,
  plantId: string,
  plantName: string | undefined,
  options: ProvisionOptions,
): Promise<ProvisionOutcome> {
  const { backend, plants } = ctx;
  const iotMode = backend.mode;
  assertPlantId(plantId);
  if (plantName !== undefined) assertPlantName(plantName);
  const known = await plants.get(plantId);
  // The plant's stored mode unless the caller names one: a device-csr plant stays one.
  const stored = known?.certificateMode;
  const mode = options.certificateMode ?? stored ?? 'server';
  const choice = certificateChoice({ ...options, certificateMode: mode });
  const certificateModeChanged =
    stored !== undefined && stored !== mode ? { from: stored, to: mode } : undefined;
  const name = plantName ?? known?.name;
  if (name === undefined)
    throw new InvalidInputError(
      `Plant ${plantId} is not known yet: give its name to create and provision it`,
    );
  if (iotMode === 'disabled') {
    const plant = known ?? (await plants.ensure({ id: plantId, name, iotStatus: 'disabled' }));
    // A caller that waits reads resources there are none of: an error, not undefined fields.
    if (options.wait) {
      throw new ConflictError(
        'iot_disabled',
        `Plant ${plantId} gets no IoT resources: ${iotDisabledMessage(backend)}. It is recorded with IoT status ${plant.iotStatus}; \`solar-iot backfill\` provisions it once AWS IoT is on`,
      );
    }
    if (certificateModeChanged) await plants.setCertificateMode(plantId, mode);
    return {
      iotMode,
      plantId,
      iotStatus: plant.iotStatus,
      workflowId: null,
      runId: null,
      certificateMode: mode,
    };
  }
  if (await ctx.calls.isRunning(deprovisionWorkflowId(plantId))) {
    throw new ConflictError(
      'operation_conflict',
      `Plant ${plantId} is being deprovisioned (workflow ${deprovisionWorkflowId(plantId)}); wait for it to finish, then provision again`,
    );
  }
  const plant =
    known ?? (await plants.ensure({ id: plantId, name, iotStatus: 'pending', certificateMode: mode }));
  if (certificateModeChanged) await switchCertificateMode(ctx, plant, mode);
  const input: ProvisionPlantInput = { plantId, plantName: name, ...choice };
  const handle = await ctx.calls.call(() =>
    startProvisioning(ctx.temporal, input, { taskQueue: ctx.taskQueue }),
  );
  const outcome = {
    ...startedOutcome(iotMode, plantId, plant.iotStatus, handle),
    certificateMode: mode,
    ...(certificateModeChanged ? { certificateModeChanged } : {}),
  };
  if (!options.wait) return outcome;
  const resources = await ctx.calls.follow<PlantIotResources>(handle.workflowId, plantId, options);
  return { ...outcome, ...resources, iotStatus: 'active', resources } satisfies ProvisionedPlant;
}

/**
 * Records an explicit switch of the plant's certificate mode before its provision starts (the
 * worker makes no key here for a device-csr plant). Refused while the plant is active (its
 * certificate is of the other mode: deprovision first) or a provision of the other mode runs.
 */
async function switchCertificateMode(ctx: ServiceContext, plant: PlantView, mode: PlantCertificateMode) {
  if (plant.iotStatus === 'active') {
    throw new ConflictError(
      'certificate_mode_conflict',
      `Plant ${plant.id} is active with certificate mode ${plant.certificateMode}; to switch to ${mode}, deprovision it first, then provision it with certificateMode ${mode}`,
    );
  }
  await ctx.calls.call(() => refuseOtherModeRunning(ctx.temporal, plant.id, mode));
  await ctx.plants.setCertificateMode(plant.id, mode);
}

async function deprovision(
  ctx: ServiceContext,
  plantId: string,
  options: WaitOptions,
): Promise<DeprovisionOutcome> {
  const { backend, plants } = ctx;
  const iotMode = backend.mode;
  const plant = await requirePlant(plants, plantId);
  if (iotMode === 'disabled') {
    if (plant.thingName) {
      throw new ConflictError(
        'iot_disabled',
        `Plant ${plantId} still has AWS IoT resources (thing ${plant.thingName}), which cannot be removed while ${iotDisabledMessage(backend)}`,
      );
    }
    await plants.setStatus(plantId, 'deprovisioned', { lastError: null, deprovisionedAt: new Date() });
    return { iotMode, plantId, iotStatus: 'deprovisioned', workflowId: null, runId: null };
  }
  const handle = await ctx.calls.call(() =>
    startDeprovisioning(ctx.temporal, { plantId }, { taskQueue: ctx.taskQueue }),
  );
  const outcome = startedOutcome(iotMode, plantId, plant.iotStatus, handle);
  if (!options.wait) return outcome;
  const result = await ctx.calls.follow<DeprovisionResult>(handle.workflowId, plantId, options);
  return { ...outcome, iotStatus: 'deprovisioned', result };
}

export function plantLifecycle(ctx: ServiceContext) {
  return {
    /**
     * Creates a plant and starts its provisioning (or records it `disabled`). The id is generated
     * unless given (the plant service may own its ids).
     */
    createPlant(input: { name: string; id?: string | undefined } & CertificateChoice): Promise<PlantStatus> {
      return createPlant(ctx, input);
    },

    /**
     * Starts provisioning the plant's IoT identity. Returns once the workflow is started, or with
     * `wait: true` once it finished, with the resources (top level and `resources`; with IoT
     * disabled, a ConflictError `iot_disabled`). A second call while one runs attaches to it.
     * `plantName` may be omitted for a plant already known. `certificateMode: 'device-csr'`: the
     * device makes its key and sends a CSR (submitDeviceCsr), within `csrTimeout` (default 7d).
     */
    provisionPlantIoT: ((plantId: string, plantName?: string, options: ProvisionOptions = {}) =>
      provision(ctx, plantId, plantName, options)) as {
      (
        plantId: string,
        plantName: string | undefined,
        options: ProvisionOptions & { wait: true },
      ): Promise<ProvisionedPlant>;
      (plantId: string, plantName?: string, options?: ProvisionOptions): Promise<ProvisionOutcome>;
    },

    /**
     * Starts removing the plant's IoT identity. A running provision of the plant is cancelled and
     * rolled back first. The plant's record stays, with IoT status `deprovisioned`.
     */
    deprovisionPlantIoT(
      plantId: string,
      options: WaitOptions & LegacyDeprovisionHints = {},
    ): Promise<DeprovisionOutcome> {
      return deprovision(ctx, plantId, options);
    },
  };
}
