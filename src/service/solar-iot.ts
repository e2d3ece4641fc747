/**
 * The library API the plant service, the HTTP API and the CLI are built on: the seed's functions
 * (provisionPlantIoT, getThingShadow, publishCommand...) over injected dependencies.
 *
 * Three modes, decided once when the instance is created:
 * - `aws`: workflows on Temporal, shadows and commands through the IoT data plane.
 * - `mock` (USE_MOCK_DATA=true): the same workflows, run by a worker with mock activities;
 *   shadows, commands and rules in this process' memory. No AWS call.
 * - `disabled` (USE_AWS_IOT=false, or no AWS credentials): plants are recorded with IoT status
 *   `disabled`, no workflow starts; `backfill` provisions them once IoT is switched on.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type IoTClient, ListThingsCommand } from '@aws-sdk/client-iot';
import type { IoTDataPlaneClient } from '@aws-sdk/client-iot-data-plane';
import { type Client, WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import { sql } from 'drizzle-orm';
import type { Db } from '../activities/deps.js';
import type { Config, IotMode } from '../config/index.js';
import {
  type Cipher,
  createCipher,
  EncryptionKeyError,
  generateEncryptionKey,
} from '../crypto/encryption.js';
import { IOT_STATUSES, type IotStatus } from '../db/schema.js';
import { commandTopicFor } from '../iot/naming.js';
import { mockShadowStore } from '../mock/shadows.js';
import type { BackfillProgress, BackfillResult } from '../workflows/backfill-contract.js';
import {
  type DeprovisionResult,
  deprovisionWorkflowId,
  type PlantIotResources,
} from '../workflows/contract.js';
import {
  type BackfillHandleInfo,
  type BackfillOptions,
  backfillClient,
  type FollowOptions,
} from './backfill.js';
import {
  assertCommandName,
  assertCommandParams,
  assertQos,
  awsCommandPublisher,
  type CommandPublisher,
  encodeCommand,
  mockCommandPublisher,
} from './commands.js';
import { parseDuration } from './durations.js';
import {
  ConflictError,
  DependencyUnavailableError,
  InvalidInputError,
  mapTemporalError,
  OperationFailedError,
  PlantNotFoundError,
  ShadowVersionConflictError,
} from './errors.js';
import { latestOperation, type OperationView } from './operations.js';
import {
  DEFAULT_PAGE_SIZE,
  MAX_PAGE_SIZE,
  type PlantPage,
  type PlantView,
  plantRepository,
} from './plants.js';
import {
  assertPlantId,
  awsRuleManager,
  mockRuleManager,
  type RuleManager,
  type RuleResult,
} from './rules.js';
import {
  assertDesiredState,
  assertShadowName,
  assertVersion,
  awsShadowStore,
  type ShadowDocument,
  type ShadowOptions,
  type ShadowState,
  type ShadowStore,
  ShadowStoreConflict,
  type UpdateShadowOptions,
} from './shadows.js';
import { NO_TELEMETRY, type PlantTelemetryStatus, plantTelemetryStatus } from './silence.js';
import {
  type LatestTelemetryView,
  type TelemetryQueryOptions,
  type TelemetryView,
  telemetryRepository,
} from './telemetry.js';
import { startDeprovisioning, startProvisioning } from './workflow-starters.js';

export const MAX_PLANT_NAME_LENGTH = 256;

export interface SolarIotDeps {
  config: Config;
  temporal: Client;
  db: Db;
  /** Required in `aws` mode; never used in the others. */
  aws?: { iot: IoTClient; iotData: IoTDataPlaneClient } | undefined;
  /**
   * Why IoT is off although the configuration asks for AWS (e.g. no credentials found): the
   * instance then runs in `disabled` mode. See `resolveIotMode`.
   */
  degradedReason?: string | null | undefined;
  /** Default: the configured TEMPORAL_TASK_QUEUE. */
  taskQueue?: string | undefined;
  /**
   * Deadline of each Temporal call made for a request (start, describe), retries included
   * (default 10 s): with Temporal down a request fails with 503 instead of hanging.
   */
  rpcTimeoutMs?: number | undefined;
  /** How long a status query may wait for a worker (default 3 s). */
  queryTimeoutMs?: number | undefined;
  /** How long each readiness probe may take (default 3 s). */
  readinessTimeoutMs?: number | undefined;
  /** Mock mode stores; default: fresh in-memory ones. */
  mock?: { shadows?: ShadowStore; commands?: CommandPublisher; rules?: RuleManager } | undefined;
}

/** Every answer says which mode produced it, so mock data is never mistaken for real. */
export interface PlantStatus {
  iotMode: IotMode;
  plant: PlantView;
  operation: OperationView | null;
  /** When its devices last sent an accepted reading. */
  telemetry: PlantTelemetryStatus;
}

export interface WaitOptions {
  /** Wait for the workflow to finish (the seed's behaviour); default false: return once started. */
  wait?: boolean;
  /** While waiting: called with the operation's progress. */
  onProgress?: (operation: OperationView) => void;
  pollIntervalMs?: number;
}

export interface ProvisionOutcome {
  iotMode: IotMode;
  plantId: string;
  iotStatus: IotStatus;
  /** null when no workflow was started (IoT disabled). */
  workflowId: string | null;
  runId: string | null;
  /** Present after `wait: true`: the seed's resources (ids and names, never key material). */
  resources?: PlantIotResources;
}

export interface DeprovisionOutcome {
  iotMode: IotMode;
  plantId: string;
  iotStatus: IotStatus;
  workflowId: string | null;
  runId: string | null;
  /** Present after `wait: true`. */
  result?: DeprovisionResult;
}

/**
 * The seed passed the plant's resource names to deprovisionPlantIoT. They are accepted and
 * ignored: the workflow finds what exists itself (our records and AWS), which is safer.
 */
export interface LegacyDeprovisionHints {
  iotThingName?: string | null;
  iotCertificateId?: string | null;
  iotCertificateArn?: string | null;
  iotPolicyName?: string | null;
  iotRuleName?: string | null;
}

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

export interface ReadinessCheck {
  ok: boolean;
  /** A failing check that is not required (Temporal while IoT is disabled) keeps the service ready. */
  required: boolean;
  detail: string;
  latencyMs: number;
}

export interface Readiness {
  ready: boolean;
  iotMode: IotMode;
  checks: { temporal: ReadinessCheck; postgresql: ReadinessCheck; aws: ReadinessCheck };
}

export interface ListPlantsOptions {
  iotStatus?: IotStatus | undefined;
  /**
   * Only plants silent this long (`15m`, `2h`): newest reading older than that, or none ever.
   * Without iotStatus, only `active` plants (the ones expected to send) are considered.
   */
  silentFor?: string | undefined;
  limit?: number | undefined;
  cursor?: string | undefined;
}

/** `disabled` when the configuration asks for AWS but `degradedReason` says it cannot work. */
export function effectiveMode(config: Config, degradedReason?: string | null): IotMode {
  return config.iot.mode === 'aws' && degradedReason ? 'disabled' : config.iot.mode;
}

/** C0 and C1 controls (NUL, ESC, CSI...) and bidirectional overrides: nothing a name needs. */
const CONTROL_CHARACTER = /[\p{Cc}\u202a-\u202e\u2066-\u2069]/u;

function assertPlantName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || name.trim() === '')
    throw new InvalidInputError('The plant name must be a non-empty string');
  if (name.length > MAX_PLANT_NAME_LENGTH) {
    throw new InvalidInputError(
      `The plant name is ${name.length} characters long; at most ${MAX_PLANT_NAME_LENGTH} are allowed`,
    );
  }
  const control = CONTROL_CHARACTER.exec(name);
  if (control) {
    const code = (control[0].codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0');
    throw new InvalidInputError(
      `The plant name contains a control character (U+${code} at position ${control.index + 1}); names are shown in terminals, tables and logs, so use printable characters only`,
      'invalid_plant_name',
    );
  }
}

async function withTimeout<T>(ms: number, what: string, run: () => Promise<T>): Promise<T> {
  const timer = new AbortController();
  try {
    return await Promise.race([
      run(),
      sleep(ms, undefined, { signal: timer.signal }).then(() => {
        throw new Error(`${what} did not answer within ${ms} ms`);
      }),
    ]);
  } finally {
    timer.abort();
  }
}

export function createSolarIot(deps: SolarIotDeps) {
  const { config, temporal, db } = deps;
  const iotMode = effectiveMode(config, deps.degradedReason);
  const taskQueue = deps.taskQueue ?? config.temporal.taskQueue;
  const plants = plantRepository(db);
  const telemetry = telemetryRepository(db);
  const backfill = backfillClient(temporal, taskQueue, deps.rpcTimeoutMs ?? 10_000);

  if (iotMode === 'aws' && !deps.aws) throw new Error('createSolarIot: AWS clients are required in aws mode');
  const shadows: ShadowStore | null =
    iotMode === 'aws' && deps.aws
      ? awsShadowStore(deps.aws.iotData)
      : iotMode === 'mock'
        ? (deps.mock?.shadows ?? mockShadowStore())
        : null;
  const commands: CommandPublisher | null =
    iotMode === 'aws' && deps.aws
      ? awsCommandPublisher(deps.aws.iotData)
      : iotMode === 'mock'
        ? (deps.mock?.commands ?? mockCommandPublisher())
        : null;
  const rules: RuleManager | null =
    iotMode === 'aws' && deps.aws
      ? awsRuleManager(deps.aws.iot, {
          sqsQueueUrl: config.aws.sqsQueueUrl,
          iotRoleArn: config.aws.iotRoleArn,
        })
      : iotMode === 'mock'
        ? (deps.mock?.rules ?? mockRuleManager())
        : null;

  const disabledMessage = () =>
    `AWS IoT is disabled (${deps.degradedReason ?? 'USE_AWS_IOT=false'}); set USE_AWS_IOT=true with AWS credentials, or USE_MOCK_DATA=true`;
  function requireIot<T>(dependency: T | null): T {
    if (dependency === null) throw new ConflictError('iot_disabled', disabledMessage());
    return dependency;
  }

  const rpcTimeoutMs = deps.rpcTimeoutMs ?? 10_000;
  /** A bounded Temporal call (not for long polls such as result()). */
  async function temporalCall<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await temporal.connection.withDeadline(Date.now() + rpcTimeoutMs, run);
    } catch (error) {
      throw mapTemporalError(error);
    }
  }

  async function requirePlant(plantId: string): Promise<PlantView> {
    assertPlantId(plantId);
    const plant = await plants.get(plantId);
    if (!plant) throw new PlantNotFoundError(plantId);
    return plant;
  }

  /** The thing a shadow or command talks to: only an active plant has one. */
  async function activeThing(plantId: string): Promise<string> {
    const plant = await requirePlant(plantId);
    if (plant.iotStatus !== 'active' || !plant.thingName) {
      throw new ConflictError(
        'not_provisioned',
        `Plant ${plantId} has no active IoT thing (iotStatus: ${plant.iotStatus}); provision it first`,
      );
    }
    return plant.thingName;
  }

  async function operationOf(plantId: string): Promise<OperationView | null> {
    try {
      return await latestOperation(temporal, plantId, { queryTimeoutMs: deps.queryTimeoutMs, rpcTimeoutMs });
    } catch (error) {
      // With IoT disabled Temporal is optional: the plant's record alone answers.
      if (iotMode === 'disabled' && error instanceof DependencyUnavailableError) return null;
      throw error;
    }
  }

  async function follow<T>(workflowId: string, plantId: string, options: WaitOptions): Promise<T> {
    const result = (temporal.workflow.getHandle(workflowId).result() as Promise<T>).then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    );
    for (;;) {
      const settled = await Promise.race([result, sleep(options.pollIntervalMs ?? 500).then(() => null)]);
      if (settled) {
        if ('value' in settled) return settled.value;
        const { error } = settled;
        if (error instanceof WorkflowFailedError) {
          throw new OperationFailedError(`${workflowId} failed: ${error.cause?.message ?? error.message}`, {
            cause: error,
          });
        }
        throw error;
      }
      if (options.onProgress) {
        const op = await operationOf(plantId).catch(() => null);
        if (op) options.onProgress(op);
      }
    }
  }

  async function isRunning(workflowId: string): Promise<boolean> {
    try {
      const { status } = await temporal.connection.withDeadline(Date.now() + rpcTimeoutMs, () =>
        temporal.workflow.getHandle(workflowId).describe(),
      );
      return status.name === 'RUNNING';
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return false;
      throw mapTemporalError(error);
    }
  }

  let cipher: Cipher | undefined;
  function getCipher(): Cipher {
    const { currentKey, previousKeys } = config.encryption;
    if (!currentKey)
      throw new EncryptionKeyError('ENCRYPTION_KEY is not set; generate one with `solar-iot keygen`');
    cipher ??= createCipher({ currentKey, previousKeys });
    return cipher;
  }

  const api = {
    /** The mode this instance runs in (after graceful degradation). */
    iotMode,
    /** Why IoT is disabled although configured on, if it is. */
    degradedReason: iotMode === 'disabled' ? (deps.degradedReason ?? 'USE_AWS_IOT=false') : null,

    /** The seed's check: true in `aws` and `mock` modes. */
    isAwsIotEnabled(): boolean {
      return iotMode !== 'disabled';
    },

    /**
     * Creates a plant and starts its provisioning (or records it `disabled`). The id is generated
     * unless given (the plant service may own its ids).
     */
    async createPlant(input: { name: string; id?: string | undefined }): Promise<PlantStatus> {
      assertPlantName(input.name);
      const id = input.id ?? randomUUID();
      assertPlantId(id);
      const created = await plants.insert({
        id,
        name: input.name,
        iotStatus: iotMode === 'disabled' ? 'disabled' : 'pending',
      });
      if (!created)
        throw new ConflictError('plant_exists', `Plant ${id} exists already; choose another id or omit it`);
      if (iotMode === 'disabled')
        return { iotMode, plant: created, operation: null, telemetry: NO_TELEMETRY };
      try {
        await temporalCall(() =>
          startProvisioning(temporal, { plantId: id, plantName: input.name }, { taskQueue }),
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
      return api.getPlantIoTStatus(id);
    },

    /**
     * Starts provisioning the plant's IoT identity (the seed's provisionPlantIoT). Returns once the
     * workflow is started, or with `wait: true` once it finished, with the resources. A second
     * call while one runs attaches to it. `plantName` may be omitted for a plant already known.
     */
    async provisionPlantIoT(
      plantId: string,
      plantName?: string,
      options: WaitOptions = {},
    ): Promise<ProvisionOutcome> {
      assertPlantId(plantId);
      if (plantName !== undefined) assertPlantName(plantName);
      const known = await plants.get(plantId);
      const name = plantName ?? known?.name;
      if (name === undefined)
        throw new InvalidInputError(
          `Plant ${plantId} is not known yet: give its name to create and provision it`,
        );
      if (iotMode === 'disabled') {
        const plant = known ?? (await plants.ensure({ id: plantId, name, iotStatus: 'disabled' }));
        return { iotMode, plantId, iotStatus: plant.iotStatus, workflowId: null, runId: null };
      }
      if (await isRunning(deprovisionWorkflowId(plantId))) {
        throw new ConflictError(
          'operation_conflict',
          `Plant ${plantId} is being deprovisioned (workflow ${deprovisionWorkflowId(plantId)}); wait for it to finish, then provision again`,
        );
      }
      const plant = known ?? (await plants.ensure({ id: plantId, name, iotStatus: 'pending' }));
      const handle = await temporalCall(() =>
        startProvisioning(temporal, { plantId, plantName: name }, { taskQueue }),
      );
      const outcome: ProvisionOutcome = {
        iotMode,
        plantId,
        iotStatus: plant.iotStatus,
        workflowId: handle.workflowId,
        runId: handle.firstExecutionRunId,
      };
      if (!options.wait) return outcome;
      const resources = await follow<PlantIotResources>(handle.workflowId, plantId, options);
      return { ...outcome, iotStatus: 'active', resources };
    },

    /**
     * Starts removing the plant's IoT identity (the seed's deprovisionPlantIoT). A running
     * provision of the plant is cancelled and rolled back first. The plant's record stays, with
     * IoT status `deprovisioned`.
     */
    async deprovisionPlantIoT(
      plantId: string,
      options: WaitOptions & LegacyDeprovisionHints = {},
    ): Promise<DeprovisionOutcome> {
      const plant = await requirePlant(plantId);
      if (iotMode === 'disabled') {
        if (plant.thingName) {
          throw new ConflictError(
            'iot_disabled',
            `Plant ${plantId} still has AWS IoT resources (thing ${plant.thingName}), which cannot be removed while ${disabledMessage().replace(/^AWS IoT is /, 'AWS IoT is ')}`,
          );
        }
        await plants.setStatus(plantId, 'deprovisioned', { lastError: null, deprovisionedAt: new Date() });
        return { iotMode, plantId, iotStatus: 'deprovisioned', workflowId: null, runId: null };
      }
      const handle = await temporalCall(() => startDeprovisioning(temporal, { plantId }, { taskQueue }));
      const outcome: DeprovisionOutcome = {
        iotMode,
        plantId,
        iotStatus: plant.iotStatus,
        workflowId: handle.workflowId,
        runId: handle.firstExecutionRunId,
      };
      if (!options.wait) return outcome;
      const result = await follow<DeprovisionResult>(handle.workflowId, plantId, options);
      return { ...outcome, iotStatus: 'deprovisioned', result };
    },

    /** The plant's record (status, resource ids, last error) and its latest operation's step. */
    async getPlantIoTStatus(plantId: string): Promise<PlantStatus> {
      await requirePlant(plantId); // an unknown plant is a 404 even with Temporal down
      // The row is read again after the operation: a step the operation reports done
      // (record-start sets the status) is then always in the row returned. Read once, before,
      // it could show a deprovision past record-start on a plant still 'active'.
      const operation = await operationOf(plantId);
      const plant = await requirePlant(plantId);
      return { iotMode, plant, operation, telemetry: await plantTelemetryStatus(db, plantId) };
    },

    async listPlants(options: ListPlantsOptions = {}): Promise<PlantPage & { iotMode: IotMode }> {
      const limit = options.limit ?? DEFAULT_PAGE_SIZE;
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) {
        throw new InvalidInputError(`limit must be a whole number from 1 to ${MAX_PAGE_SIZE}`);
      }
      if (options.iotStatus !== undefined && !IOT_STATUSES.includes(options.iotStatus)) {
        throw new InvalidInputError(`iotStatus must be one of ${IOT_STATUSES.join(', ')}`);
      }
      // Silence is asked of plants expected to send, unless the caller names another status.
      const silentForSeconds =
        options.silentFor === undefined ? undefined : parseDuration(options.silentFor, 'silentFor');
      const iotStatus = options.iotStatus ?? (silentForSeconds === undefined ? undefined : 'active');
      const page = await plants.list({
        limit,
        ...(silentForSeconds === undefined ? {} : { silentForSeconds }),
        ...(iotStatus ? { iotStatus } : {}),
        ...(options.cursor ? { cursor: options.cursor } : {}),
      });
      return { iotMode, ...page };
    },

    /**
     * The plant's readings in time buckets: avg, min, max, last and count per device and metric
     * (default: the last 24 hours, at most 60 buckets). InvalidInputError names the limit a
     * request breaks (range, buckets, points).
     */
    async getTelemetry(plantId: string, options: TelemetryQueryOptions = {}): Promise<TelemetryView> {
      await requirePlant(plantId);
      return telemetry.buckets(plantId, options);
    },

    /** The latest value of every metric of every device of the plant. */
    async getLatestTelemetry(plantId: string): Promise<LatestTelemetryView> {
      await requirePlant(plantId);
      return telemetry.latest(plantId);
    },

    /** The plant's thing shadow (classic, or named with `shadowName`). */
    async getThingShadow(plantId: string, options: ShadowOptions = {}): Promise<ShadowView> {
      assertShadowName(options.shadowName);
      const store = requireIot(shadows);
      const thingName = await activeThing(plantId);
      const doc = await store.get(thingName, options);
      return { iotMode, plantId, thingName, shadowName: options.shadowName ?? null, ...doc };
    },

    /**
     * Merges `desired` into the shadow's desired state (`null` removes a key). With `version`,
     * applies only if the shadow is still at that version, else ShadowVersionConflictError.
     */
    async updateThingShadow(
      plantId: string,
      desired: ShadowState,
      options: UpdateShadowOptions = {},
    ): Promise<ShadowView> {
      assertShadowName(options.shadowName);
      assertDesiredState(desired);
      assertVersion(options.version);
      const store = requireIot(shadows);
      const thingName = await activeThing(plantId);
      try {
        const doc = await store.updateDesired(thingName, desired, options);
        return { iotMode, plantId, thingName, shadowName: options.shadowName ?? null, ...doc };
      } catch (error) {
        if (error instanceof ShadowStoreConflict)
          throw new ShadowVersionConflictError(plantId, options.version ?? -1);
        throw error;
      }
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
      const qos = options.qos ?? 1;
      assertQos(qos);
      assertCommandParams(params);
      const publisher = requireIot(commands);
      await activeThing(plantId);
      const commandId = randomUUID();
      const topic = commandTopicFor(plantId, command);
      const payload = encodeCommand({ commandId, command, issuedAt: new Date().toISOString(), params });
      await publisher.publish({ topic, payload, qos });
      return { iotMode, plantId, topic, commandId, qos };
    },

    /** The seed's per-plant telemetry rule (the shared rule already routes every plant). */
    async createDataIngestionRule(
      plantId: string,
      ruleName?: string,
      description?: string,
    ): Promise<RuleResult> {
      return requireIot(rules).createDataIngestionRule(plantId, ruleName, description);
    },

    /** Replaces a rule's SQL and/or description; the SQL is validated before it reaches AWS. */
    async updateRule(
      ruleName: string,
      plantId: string,
      update: { sql?: string; description?: string },
    ): Promise<RuleResult> {
      return requireIot(rules).updateRule(ruleName, plantId, update);
    },

    /** Starts (or attaches to) the backfill of every plant without IoT resources. */
    async startBackfill(options: BackfillOptions = {}): Promise<BackfillHandleInfo> {
      if (iotMode === 'disabled') throw new ConflictError('iot_disabled', disabledMessage());
      return backfill.start(options);
    },

    getBackfillProgress(workflowId?: string): Promise<BackfillProgress | null> {
      return backfill.progress(workflowId);
    },

    waitForBackfill(workflowId?: string, options: FollowOptions = {}): Promise<BackfillResult> {
      return backfill.wait(workflowId, options);
    },

    /** Temporal, PostgreSQL and AWS reachable, each probed with a deadline. */
    async checkReadiness(): Promise<Readiness> {
      const timeout = deps.readinessTimeoutMs ?? 3_000;
      const probe = async (
        required: boolean,
        what: string,
        run: () => Promise<string>,
      ): Promise<ReadinessCheck> => {
        const t0 = performance.now();
        try {
          const detail = await withTimeout(timeout, what, run);
          return { ok: true, required, detail, latencyMs: Math.round(performance.now() - t0) };
        } catch (error) {
          const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
          return {
            ok: false,
            required,
            detail: `${what}: ${message}`,
            latencyMs: Math.round(performance.now() - t0),
          };
        }
      };
      const [temporalCheck, postgresql, aws] = await Promise.all([
        probe(iotMode !== 'disabled', 'Temporal', async () => {
          await temporal.connection.withDeadline(Date.now() + timeout, () =>
            temporal.workflowService.getSystemInfo({}),
          );
          return `reachable at ${config.temporal.address}`;
        }),
        probe(true, 'PostgreSQL', async () => {
          await db.execute(sql`select 1`);
          return 'reachable';
        }),
        probe(iotMode === 'aws', 'AWS IoT', async () => {
          if (iotMode === 'mock') return 'not used (mock mode)';
          if (iotMode === 'disabled') return `not used (${api.degradedReason})`;
          await deps.aws?.iot.send(new ListThingsCommand({ maxResults: 1 }));
          return `reachable${config.aws.endpointUrl ? ` at ${config.aws.endpointUrl}` : ''} (${config.aws.region})`;
        }),
      ]);
      const checks = { temporal: temporalCheck, postgresql, aws };
      const ready = Object.values(checks).every((c) => c.ok || !c.required);
      return { ready, iotMode, checks };
    },

    /** Encrypts with ENCRYPTION_KEY (versioned AES-256-GCM envelope). */
    encryptData(plaintext: string): Promise<string> {
      return getCipher().encrypt(plaintext);
    },

    /** Decrypts with ENCRYPTION_KEY or one of ENCRYPTION_KEYS_PREVIOUS. */
    decryptData(ciphertext: string): Promise<string> {
      return getCipher().decrypt(ciphertext);
    },

    generateEncryptionKey,
  };
  return api;
}

export type SolarIot = ReturnType<typeof createSolarIot>;
