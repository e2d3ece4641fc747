/**
 * Certificate mode device-csr, the service's side: which mode a provision asks for, and the CSR a
 * device sends, checked here (a clear 400), handed to the plant's waiting provision (the
 * submitCsr update, which allows one), followed to the certificate AWS issued for it. No private
 * key passes here: the device keeps its own.
 */
import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { and, eq, isNull } from 'drizzle-orm';
import type { IotMode } from '../config/index.js';
import { keyInUseMessage, otherPlantWithKey } from '../db/certificate-keys.js';
import { certificates } from '../db/schema.js';
import { CsrRejectedError, checkDeviceCsr, MAX_CSR_PEM_LENGTH } from '../iot/device-csr.js';
import { publicKeyFingerprintOfCertificate, publicKeySha256 } from '../iot/device-keys.js';
import { thingNameFor } from '../iot/naming.js';
import {
  MAX_CSR_TIMEOUT_MS,
  PLANT_CERTIFICATE_MODES,
  type PlantCertificateMode,
  type PlantIotResources,
  provisionWorkflowId,
  submitCsrUpdate,
} from '../workflows/contract.js';
import { mapAwsUnavailable } from './aws.js';
import type { ServiceContext } from './context.js';
import { parseDuration } from './durations.js';
import {
  AnswerTimeoutError,
  ConflictError,
  InvalidInputError,
  mapTemporalError,
  OperationFailedError,
} from './errors.js';
import { iotDisabledMessage } from './mode.js';
import { type PlantView, requirePlant } from './plants.js';

/** Where a provision makes the plant's key: `server` (default) or `device-csr`, and how long the latter waits. */
export interface CertificateChoice {
  certificateMode?: PlantCertificateMode | undefined;
  /** device-csr: how long to wait for the CSR (`36h`, `7d`; default 7d, at most 365d). */
  csrTimeout?: string | undefined;
}

/** What a device-csr provision's input adds; nothing for the server mode. */
export function certificateChoice(choice: CertificateChoice): {
  certificateMode?: PlantCertificateMode;
  csrTimeoutMs?: number;
} {
  const { certificateMode, csrTimeout } = choice;
  if (certificateMode !== undefined && !PLANT_CERTIFICATE_MODES.includes(certificateMode))
    throw new InvalidInputError(`certificateMode must be one of ${PLANT_CERTIFICATE_MODES.join(', ')}`);
  if (csrTimeout !== undefined && certificateMode !== 'device-csr')
    throw new InvalidInputError('csrTimeout applies to certificateMode device-csr only');
  if (certificateMode !== 'device-csr') return {};
  if (csrTimeout === undefined) return { certificateMode };
  const csrTimeoutMs = parseDuration(csrTimeout, 'csrTimeout') * 1000;
  if (csrTimeoutMs > MAX_CSR_TIMEOUT_MS) throw new InvalidInputError('csrTimeout is at most 365d');
  return { certificateMode, csrTimeoutMs };
}

/** What a device gets for its CSR: the certificate of its own key, and where to connect. */
export interface DeviceCertificate {
  iotMode: IotMode;
  plantId: string;
  thingName: string;
  certificateId: string;
  certificateArn: string;
  /** PEM of the certificate AWS issued from the CSR; null in mock mode, which issues none. */
  certificatePem: string | null;
  endpoint: string;
  /** Says where the private key is: on the device, never here. */
  privateKey: string;
}

const KEY_ON_DEVICE =
  'held by the device that sent the CSR; solar-iot never saw or stored it (certificate mode device-csr)';

/** The 409 for a plant whose provision does not wait for a CSR (closed, or never started). */
async function noProvisionWaiting(ctx: ServiceContext, plant: PlantView): Promise<never> {
  if (plant.iotStatus === 'active' && plant.certificateId) {
    const [row] = await ctx.db
      .select({ encryptedPrivateKey: certificates.encryptedPrivateKey })
      .from(certificates)
      .where(and(eq(certificates.certificateId, plant.certificateId), isNull(certificates.destroyedAt)));
    if (row && row.encryptedPrivateKey === null) {
      throw new ConflictError(
        'csr_already_accepted',
        `Plant ${plant.id} accepted a CSR already: its certificate ${plant.certificateId} was issued from it. A plant takes one CSR; for a new key, deprovision it and provision it again with certificateMode device-csr`,
      );
    }
  }
  throw new ConflictError(
    'csr_not_expected',
    `No provision of plant ${plant.id} waits for a CSR (IoT status ${plant.iotStatus}); provision it with certificateMode device-csr first`,
  );
}

/** The workflow's refusal (its validator) as the service's error. */
function refusal(error: WorkflowUpdateFailedError): Error {
  const cause = error.cause as { type?: string; message?: string } | undefined;
  const message = cause?.message ?? error.message;
  if (cause?.type === 'CsrAlreadyAccepted') return new ConflictError('csr_already_accepted', message);
  if (cause?.type === 'InvalidCsr') return new InvalidInputError(message, 'invalid_csr');
  return new ConflictError('csr_not_expected', message);
}

/**
 * How long submitDeviceCsr waits for the provision to take the CSR and finish (POST
 * /plants/{id}/csr): far above the few seconds a provision needs after the CSR, below the API
 * client's 30 s and the 60 s at which common proxies give up.
 */
export const CSR_ANSWER_TIMEOUT_MS = 20_000;

/** Whose CSR the provision took, as far as this request knows. */
type Taken = 'not-yet' | 'this-request' | 'before';

/**
 * Checks the CSR, hands it to the plant's provision, waits for that provision to finish and
 * answers with the certificate. 400 for a CSR that is not acceptable (what is wrong with it), 409
 * when no provision of the plant waits for one or it took one already, or when another plant's
 * certificate has the CSR's key (csr_key_in_use: the provision keeps waiting for another key);
 * 504 after `timeoutMs` (AnswerTimeoutError: the provision did not take it, or has not
 * finished), never later.
 */
export async function submitDeviceCsr(
  ctx: ServiceContext,
  plantId: string,
  csrText: string,
  timeoutMs = CSR_ANSWER_TIMEOUT_MS,
): Promise<DeviceCertificate> {
  const plant = await requirePlant(ctx.plants, plantId);
  if (ctx.backend.mode === 'disabled')
    throw new ConflictError('iot_disabled', iotDisabledMessage(ctx.backend));
  if (typeof csrText !== 'string' || csrText.length > MAX_CSR_PEM_LENGTH) {
    throw new InvalidInputError(
      `The CSR must be PEM text of at most ${MAX_CSR_PEM_LENGTH} characters (a CSR is about 1 to 2 KB)`,
      'csr_too_large',
    );
  }
  let checked: { pem: string; publicKey: string };
  try {
    checked = await checkDeviceCsr(csrText, thingNameFor(plantId));
  } catch (error) {
    if (error instanceof CsrRejectedError) throw new InvalidInputError(error.message, 'invalid_csr');
    throw error;
  }
  const keySha256 = publicKeySha256(checked.publicKey);
  const holder = await otherPlantWithKey(ctx.db, keySha256, plantId);
  if (holder) throw new ConflictError('csr_key_in_use', keyInUseMessage(holder, plantId));
  const progress: { taken: Taken } = { taken: 'not-yet' };
  return withinDeadline(
    ctx,
    timeoutMs,
    () => handOver(ctx, plant, { ...checked, keySha256 }, progress),
    () => notAnswered(plantId, timeoutMs, progress.taken),
  );
}

/**
 * `run`'s result, or `timedOut()`'s error once `timeoutMs` passed: the Temporal calls `run` is
 * making then (the update, the result's long poll) are cancelled, and whatever else it awaits
 * no longer holds the answer.
 */
async function withinDeadline<T>(
  ctx: ServiceContext,
  timeoutMs: number,
  run: () => Promise<T>,
  timedOut: () => Error,
): Promise<T> {
  const cancel = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      reject(timedOut());
      cancel.abort();
    }, timeoutMs);
  });
  try {
    return await Promise.race([ctx.temporal.connection.withAbortSignal(cancel.signal, run), expired]);
  } finally {
    clearTimeout(timer);
  }
}

function notAnswered(plantId: string, timeoutMs: number, taken: Taken): AnswerTimeoutError {
  const within = `within ${Math.round(timeoutMs / 100) / 10} s`;
  const again = `Send the same CSR again in a minute: once the certificate is issued, that answers with it (GET /plants/${plantId} shows the provision's step)`;
  if (taken === 'not-yet') {
    return new AnswerTimeoutError(
      'csr_not_answered',
      `The provision of plant ${plantId} did not take the CSR ${within}: no worker is running it (or Temporal is slow to answer); it may still take it once a worker runs. ${again}`,
    );
  }
  return new AnswerTimeoutError(
    'certificate_pending',
    `The provision of plant ${plantId} took the CSR${taken === 'before' ? ' (sent before)' : ''} but has not issued the certificate ${within} (a worker stopped, or AWS is slow); it goes on. ${again}`,
  );
}

/**
 * The update, then the provision's end. Temporal first answers a bounded describe, so Temporal
 * down is the 503 it is; the update then has only the request's deadline (its own would call a
 * stopped worker "Temporal unreachable").
 */
async function handOver(
  ctx: ServiceContext,
  plant: PlantView,
  checked: { pem: string; publicKey: string; keySha256: string },
  progress: { taken: Taken },
): Promise<DeviceCertificate> {
  const plantId = plant.id;
  const workflowId = provisionWorkflowId(plantId);
  const handle = ctx.temporal.workflow.getHandle(workflowId);
  await ctx.calls
    .call(() => handle.describe())
    .catch((error: unknown) => {
      if (!(error instanceof WorkflowNotFoundError)) throw error;
    });
  try {
    await handle
      .executeUpdate(submitCsrUpdate, { args: [{ csrPem: checked.pem }] })
      .catch((error: unknown) => {
        throw mapTemporalError(error);
      });
    progress.taken = 'this-request';
  } catch (error) {
    if (isAlreadyAccepted(error)) progress.taken = 'before';
    const again = error instanceof WorkflowNotFoundError || isAlreadyAccepted(error);
    const same = again ? await certificateOfKey(ctx, plantId, checked.publicKey) : null;
    if (same) return same;
    if (error instanceof WorkflowUpdateFailedError) throw refusal(error);
    if (error instanceof WorkflowNotFoundError) return noProvisionWaiting(ctx, plant);
    throw error;
  }
  const resources = await ctx.calls
    .follow<PlantIotResources>(workflowId, plantId, {})
    .catch(async (error: unknown) => {
      // Another plant's provision took the key since the check above: the worker refused it
      // (CsrKeyInUse) and this provision rolled back.
      const taken =
        error instanceof OperationFailedError &&
        (await otherPlantWithKey(ctx.db, checked.keySha256, plantId));
      if (!taken) throw error;
      throw new ConflictError(
        'csr_key_in_use',
        `${keyInUseMessage(taken, plantId)}. The provision of plant ${plantId} was rolled back: provision it again`,
      );
    });
  return deviceCertificate(ctx, plantId, resources);
}

function isAlreadyAccepted(error: unknown): boolean {
  return (
    error instanceof WorkflowUpdateFailedError &&
    (error.cause as { type?: string } | undefined)?.type === 'CsrAlreadyAccepted'
  );
}

async function deviceCertificate(
  ctx: ServiceContext,
  plantId: string,
  resources: PlantIotResources,
): Promise<DeviceCertificate> {
  return {
    iotMode: ctx.backend.mode,
    plantId,
    thingName: resources.thingName,
    certificateId: resources.certificateId,
    certificateArn: resources.certificateArn,
    certificatePem: await ctx.backend.certificatePem(resources.certificateId).catch((error: unknown) => {
      throw mapAwsUnavailable(error, 'DescribeCertificate');
    }),
    endpoint: resources.endpoint,
    privateKey: KEY_ON_DEVICE,
  };
}

/**
 * A device whose answer was lost sends its CSR again: the plant's certificate, once its provision
 * finished, if it is of the same key (the CSR proves the device holds it; the certificate is
 * public). Null otherwise: another key is still refused (one CSR per plant).
 */
async function certificateOfKey(
  ctx: ServiceContext,
  plantId: string,
  publicKey: string,
): Promise<DeviceCertificate | null> {
  const resources = await ctx.calls
    .follow<PlantIotResources>(provisionWorkflowId(plantId), plantId, {})
    .catch(() => null);
  const plant = await ctx.plants.get(plantId);
  if (!resources || plant?.iotStatus !== 'active' || plant.certificateId !== resources.certificateId)
    return null;
  const issued = await deviceCertificate(ctx, plantId, resources);
  return issued.certificatePem && publicKeyFingerprintOfCertificate(issued.certificatePem) === publicKey
    ? issued
    : null;
}
