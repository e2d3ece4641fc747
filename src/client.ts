/**
 * What the plant service imports (the package's main export).
 *
 * - The seed's functions, as top-level functions on a default instance created lazily from the
 *   process environment on first use (`provisionPlantIoT`, `getThingShadow`, ...); call
 *   `closeSolarIot()` before exiting a script.
 * - `createSolarIot(deps)` for callers that inject their own clients (the HTTP API, tests).
 * - `createApiClient({ url, token })`: the same calls over the HTTP API (what the CLI uses), for a
 *   service that should hold neither ENCRYPTION_KEY nor database access.
 * - Typed workflow starters (`startProvisioning`, `startDeprovisioning`, `getOperationStatus`).
 */

import { type OpenedSolarIot, openSolarIot } from './app/service.js';
import { isAwsIotEnabled as configEnablesIot, getConfig } from './config/index.js';
import { loadValidationSettings } from './ingest/settings.js';
import { createLogger } from './logging/index.js';
import { readCertificateAgeSettings } from './rotation/settings.js';
import type { BackfillOptions } from './service/backfill.js';
import type { ShadowOptions, ShadowState, UpdateShadowOptions } from './service/shadows.js';
import type {
  LegacyDeprovisionHints,
  ProvisionedPlant,
  ProvisionOptions,
  ProvisionOutcome,
  SolarIot,
  WaitOptions,
} from './service/solar-iot.js';
import type { TelemetryQueryOptions } from './service/telemetry.js';

export {
  type ApiClient,
  type ApiClientOptions,
  createApiClient,
  type FollowOptions as ApiFollowOptions,
} from './api-client/client.js';
export { openSolarIot, resolveIotMode } from './app/service.js';
export { createDataConverter, createTemporalClient, loadPayloadCodec } from './codec/data-converter.js';
export { decryptData, encryptData, generateEncryptionKey } from './crypto/encryption.js';
export { startRotation } from './rotation/client.js';
export type { RotateCertificateInput, RotateCertificateResult, RotationStatus } from './rotation/contract.js';
export * from './service/errors.js';
export type { OperationView } from './service/operations.js';
export type { PlantPage, PlantView } from './service/plants.js';
export { validateRuleSql } from './service/rule-sql.js';
export type { ShadowDocument } from './service/shadows.js';
export * from './service/solar-iot.js';
export * from './service/telemetry.js';
export {
  getOperationStatus,
  type StartOptions,
  startDeprovisioning,
  startProvisioning,
} from './service/workflow-starters.js';
export * from './workflows/backfill-contract.js';
export * from './workflows/contract.js';

let opened: Promise<OpenedSolarIot> | undefined;
let resolved: SolarIot | undefined;

/** The default instance, from the process environment (loadConfig), created on first use. */
export async function getSolarIot(): Promise<SolarIot> {
  opened ??= (async () => {
    const config = getConfig();
    const instance = await openSolarIot(config, {
      logger: createLogger({ level: config.logLevel }),
      certificateMaxAgeDays: readCertificateAgeSettings().maxAgeDays,
      ingestValidation: loadValidationSettings(process.env),
    });
    resolved = instance.solarIot;
    return instance;
  })();
  opened.catch(() => {
    opened = undefined;
  });
  return (await opened).solarIot;
}

/** Releases the default instance's connections (database pool, Temporal, AWS clients). */
export async function closeSolarIot(): Promise<void> {
  const current = opened;
  opened = undefined;
  resolved = undefined;
  if (current) await (await current.catch(() => undefined))?.close();
}

/**
 * The seed's synchronous check. Before the default instance exists it answers from the
 * configuration; afterwards it also knows whether AWS credentials were found.
 */
export function isAwsIotEnabled(): boolean {
  return resolved ? resolved.isAwsIotEnabled() : configEnablesIot(getConfig());
}

/**
 * The seed's call: awaited, the plant's IoT identity exists and its resources are returned
 * (`thingName`, `certificateId`, ... at the top level, as the seed's callers read them; never key
 * material: the device bundle comes from export-credentials). A failed provision, rolled back,
 * throws OperationFailedError; with AWS IoT disabled it throws ConflictError `iot_disabled` after
 * recording the plant for the backfill. `{ wait: false }` returns once the workflow is started.
 */
export async function provisionPlantIoT(
  plantId: string,
  plantName?: string,
  options?: ProvisionOptions & { wait?: true },
): Promise<ProvisionedPlant>;
export async function provisionPlantIoT(
  plantId: string,
  plantName: string | undefined,
  options: ProvisionOptions & { wait: false },
): Promise<ProvisionOutcome>;
export async function provisionPlantIoT(plantId: string, plantName?: string, options: ProvisionOptions = {}) {
  return (await getSolarIot()).provisionPlantIoT(plantId, plantName, {
    ...options,
    wait: options.wait ?? true,
  });
}

/** Certificate mode device-csr: the CSR the plant's device made; answers with its certificate. */
export async function submitDeviceCsr(plantId: string, csrPem: string) {
  return (await getSolarIot()).submitDeviceCsr(plantId, csrPem);
}

/**
 * The seed's call: awaited, the plant's IoT identity is gone (the names the seed passes are
 * accepted and ignored: the workflow finds what exists). `{ wait: false }` returns once started.
 */
export async function deprovisionPlantIoT(
  plantId: string,
  options: WaitOptions & LegacyDeprovisionHints = {},
) {
  return (await getSolarIot()).deprovisionPlantIoT(plantId, { ...options, wait: options.wait ?? true });
}

export async function getPlantIoTStatus(plantId: string) {
  return (await getSolarIot()).getPlantIoTStatus(plantId);
}

export async function getTelemetry(plantId: string, options?: TelemetryQueryOptions) {
  return (await getSolarIot()).getTelemetry(plantId, options);
}

export async function getLatestTelemetry(plantId: string) {
  return (await getSolarIot()).getLatestTelemetry(plantId);
}

/** `plantOrThing`: the plant id, or its thing name as the seed's callers pass it (`solar-plant-<id>`). */
export async function getThingShadow(plantOrThing: string, options?: ShadowOptions) {
  return (await getSolarIot()).getThingShadow(plantOrThing, options);
}

/** `plantOrThing`: the plant id, or its thing name as the seed's callers pass it (`solar-plant-<id>`). */
export async function updateThingShadow(
  plantOrThing: string,
  desired: ShadowState,
  options?: UpdateShadowOptions,
) {
  return (await getSolarIot()).updateThingShadow(plantOrThing, desired, options);
}

export async function publishCommand(
  plantId: string,
  command: string,
  params?: unknown,
  options?: { qos?: 0 | 1 },
) {
  return (await getSolarIot()).publishCommand(plantId, command, params, options);
}

export async function createDataIngestionRule(plantId: string, ruleName?: string, description?: string) {
  return (await getSolarIot()).createDataIngestionRule(plantId, ruleName, description);
}

export async function updateRule(
  ruleName: string,
  plantId: string,
  update: { sql?: string; description?: string },
) {
  return (await getSolarIot()).updateRule(ruleName, plantId, update);
}

export async function startBackfill(options?: BackfillOptions) {
  return (await getSolarIot()).startBackfill(options);
}
