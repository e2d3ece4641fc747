/**
 * The library API the plant service, the HTTP API and the CLI are built on (provisionPlantIoT,
 * getThingShadow, publishCommand...), assembled from per-concern parts over injected
 * dependencies.
 *
 * Three modes, decided once when the instance is created (see mode.ts):
 * - `aws`: workflows on Temporal, shadows and commands through the IoT data plane.
 * - `mock` (USE_MOCK_DATA=true): the same workflows, run by a worker with mock activities;
 *   shadows, commands and rules in this process' memory. No AWS call.
 * - `disabled` (USE_AWS_IOT=false, or no AWS credentials): plants are recorded with IoT status
 *   `disabled`, no workflow starts; `backfill` provisions them once IoT is switched on.
 */
import type { Client } from '@temporalio/client';
import type { Config } from '../config/index.js';
import {
  type Cipher,
  createCipher,
  EncryptionKeyError,
  generateEncryptionKey,
} from '../crypto/encryption.js';
import type { Db } from '../db/client.js';
import { INGEST_DEFAULTS, type ValidationSettings } from '../ingest/settings.js';
import type { BackfillProgress, BackfillResult } from '../workflows/backfill-contract.js';
import {
  type BackfillHandleInfo,
  type BackfillOptions,
  backfillClient,
  type FollowOptions,
} from './backfill.js';
import {
  type AgingCertificatesOptions,
  type AgingCertificatesReport,
  listAgingCertificates,
} from './certificate-age.js';
import type { ServiceContext } from './context.js';
import type { DeadLetterDepth } from './dead-letters.js';
import { type DeviceCertificate, submitDeviceCsr } from './device-csr.js';
import { plantDevices } from './devices.js';
import { ConflictError } from './errors.js';
import { chooseBackend, iotDisabledMessage, type ModeDeps } from './mode.js';
import { plantLifecycle } from './plant-lifecycle.js';
import { plantReads } from './plant-reads.js';
import { plantRepository } from './plants.js';
import { quarantineCalls } from './quarantine.js';
import { checkReadiness } from './readiness.js';
import { temporalCalls } from './temporal-calls.js';

export type { AgingCertificate, AgingCertificatesReport } from './certificate-age.js';
export type { DeadLetterDepth } from './dead-letters.js';
export type { CertificateChoice, DeviceCertificate } from './device-csr.js';
export type { CommandOutcome, ShadowView } from './devices.js';
export { effectiveMode } from './mode.js';
export { MAX_PLANT_NAME_LENGTH } from './plant-input.js';
export type {
  DeprovisionOutcome,
  LegacyDeprovisionHints,
  ProvisionedPlant,
  ProvisionOptions,
  ProvisionOutcome,
} from './plant-lifecycle.js';
export type { ListPlantsOptions, PlantStatus } from './plant-reads.js';
export type {
  QuarantineListOptions,
  QuarantinePage,
  QuarantineReplay,
  QuarantineReplaySelection,
  QuarantineSummary,
} from './quarantine.js';
export type { Readiness, ReadinessCheck } from './readiness.js';
export type { WaitOptions } from './temporal-calls.js';

export interface SolarIotDeps extends ModeDeps {
  temporal: Client;
  db: Db;
  /** Default: the configured TEMPORAL_TASK_QUEUE. */
  taskQueue?: string | undefined;
  /**
   * Deadline of each Temporal call made for a request (start, describe), retries included
   * (default 10 s): with Temporal down a request fails with 503 instead of hanging.
   */
  rpcTimeoutMs?: number | undefined;
  /** How long a status query may wait for a worker (default 3 s). */
  queryTimeoutMs?: number | undefined;
  /** How long submitDeviceCsr waits for the provision to take the CSR and finish (default 20 s). */
  csrAnswerTimeoutMs?: number | undefined;
  /** How long each readiness probe may take (default 3 s). */
  readinessTimeoutMs?: number | undefined;
  /** CERTIFICATE_MAX_AGE_DAYS: the age listAgingCertificates uses unless asked another (default 365). */
  certificateMaxAgeDays?: number | undefined;
  /**
   * INGEST_MAX_BODY_BYTES and INGEST_MAX_FUTURE_SECONDS (loadValidationSettings): quarantine
   * replays validate as the consumer does with them (default: the consumer's defaults).
   */
  ingestValidation?: ValidationSettings | undefined;
}

/** The cipher of ENCRYPTION_KEY, created on first use so an instance without a key still starts. */
function lazyCipher(config: Config): () => Cipher {
  let cipher: Cipher | undefined;
  return () => {
    const { currentKey, previousKeys } = config.encryption;
    if (!currentKey)
      throw new EncryptionKeyError('ENCRYPTION_KEY is not set; generate one with `solar-iot keygen`');
    cipher ??= createCipher({ currentKey, previousKeys });
    return cipher;
  };
}

export function createSolarIot(deps: SolarIotDeps) {
  const { config, temporal, db } = deps;
  const backend = chooseBackend(deps);
  const taskQueue = deps.taskQueue ?? config.temporal.taskQueue;
  const rpcTimeoutMs = deps.rpcTimeoutMs ?? 10_000;
  const calls = temporalCalls(temporal, {
    mode: backend.mode,
    rpcTimeoutMs,
    queryTimeoutMs: deps.queryTimeoutMs,
  });
  const ctx: ServiceContext = { backend, temporal, db, plants: plantRepository(db), calls, taskQueue };
  const backfill = backfillClient(temporal, taskQueue, rpcTimeoutMs);
  const getCipher = lazyCipher(config);

  return {
    /** The mode this instance runs in (after graceful degradation). */
    iotMode: backend.mode,
    /** Why IoT is disabled although configured on, if it is. */
    degradedReason: backend.disabledReason,

    /** True in `aws` and `mock` modes. */
    isAwsIotEnabled(): boolean {
      return backend.mode !== 'disabled';
    },

    ...plantLifecycle(ctx),
    ...plantReads(ctx),
    ...plantDevices(ctx),
    ...quarantineCalls(db, deps.ingestValidation ?? INGEST_DEFAULTS),

    /**
     * Certificate mode device-csr: the CSR the plant's device made with its own key (PEM). Checked
     * (400 invalid_csr), handed to the plant's waiting provision (409 unless one waits and has
     * none yet); answers once the provision finished, with the certificate of the device's key.
     */
    submitDeviceCsr(plantId: string, csrPem: string): Promise<DeviceCertificate> {
      return submitDeviceCsr(ctx, plantId, csrPem, deps.csrAnswerTimeoutMs);
    },

    /** Starts (or attaches to) the backfill of every plant without IoT resources. */
    async startBackfill(options: BackfillOptions = {}): Promise<BackfillHandleInfo> {
      if (backend.mode === 'disabled') throw new ConflictError('iot_disabled', iotDisabledMessage(backend));
      return backfill.start(options);
    },

    getBackfillProgress(workflowId?: string): Promise<BackfillProgress | null> {
      return backfill.progress(workflowId);
    },

    waitForBackfill(workflowId?: string, options: FollowOptions = {}): Promise<BackfillResult> {
      return backfill.wait(workflowId, options);
    },

    /**
     * Active plants on a certificate older than `olderThanDays` (default CERTIFICATE_MAX_AGE_DAYS),
     * oldest first: the plants to rotate on request while automatic rotation is off.
     */
    listAgingCertificates(options: AgingCertificatesOptions = {}): Promise<AgingCertificatesReport> {
      return listAgingCertificates(db, options, deps.certificateMaxAgeDays);
    },

    /**
     * How many deliveries the telemetry rules could not make wait in their dead-letter queue
     * (AWS_SQS_DEAD_LETTER_QUEUE_URL): 503 when it does not exist, 409 without AWS IoT.
     */
    getDeadLetters(): Promise<DeadLetterDepth> {
      return backend.deadLetters();
    },

    /** Temporal, PostgreSQL and AWS reachable, each probed with a deadline. */
    checkReadiness() {
      return checkReadiness({ config, backend, temporal, db, timeoutMs: deps.readinessTimeoutMs ?? 3_000 });
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
}

export type SolarIot = ReturnType<typeof createSolarIot>;
