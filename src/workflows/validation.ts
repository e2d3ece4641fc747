import { ApplicationFailure } from '@temporalio/workflow';
import { assertValidPlantId, InvalidPlantIdError } from '../iot/naming.js';
import {
  type DeprovisionPlantInput,
  MAX_CSR_TIMEOUT_MS,
  MIN_CSR_TIMEOUT_MS,
  PLANT_CERTIFICATE_MODES,
  type PlantCertificateMode,
  type ProvisionPlantInput,
} from './contract.js';

const MAX_PLANT_NAME_LENGTH = 256;

/** Bad input fails the workflow before any AWS call, and retrying it would not help. */
function invalid(message: string): never {
  throw ApplicationFailure.nonRetryable(message, 'InvalidInput');
}

function plantIdOf(input: unknown): string {
  if (!input || typeof input !== 'object') invalid('Expected one JSON object argument with a plantId');
  const { plantId } = input as { plantId?: unknown };
  try {
    assertValidPlantId(plantId);
  } catch (error) {
    if (error instanceof InvalidPlantIdError) invalid(error.message);
    throw error;
  }
  return plantId;
}

export function validProvisionInput(input: unknown): ProvisionPlantInput {
  const plantId = plantIdOf(input);
  const { plantName } = input as { plantName?: unknown };
  if (typeof plantName !== 'string' || plantName.trim().length === 0)
    invalid('plantName must be a non-empty string');
  if (plantName.length > MAX_PLANT_NAME_LENGTH)
    invalid(`plantName is longer than ${MAX_PLANT_NAME_LENGTH} characters`);
  const { certificateMode, csrTimeoutMs } = input as { certificateMode?: unknown; csrTimeoutMs?: unknown };
  if (
    certificateMode !== undefined &&
    !PLANT_CERTIFICATE_MODES.includes(certificateMode as PlantCertificateMode)
  )
    invalid(`certificateMode must be one of ${PLANT_CERTIFICATE_MODES.join(', ')}`);
  if (
    csrTimeoutMs !== undefined &&
    (typeof csrTimeoutMs !== 'number' ||
      !Number.isInteger(csrTimeoutMs) ||
      csrTimeoutMs < MIN_CSR_TIMEOUT_MS ||
      csrTimeoutMs > MAX_CSR_TIMEOUT_MS)
  )
    invalid(
      `csrTimeoutMs must be a whole number of milliseconds from ${MIN_CSR_TIMEOUT_MS} to ${MAX_CSR_TIMEOUT_MS}`,
    );
  return {
    plantId,
    plantName,
    ...(certificateMode !== undefined ? { certificateMode: certificateMode as PlantCertificateMode } : {}),
    ...(csrTimeoutMs !== undefined ? { csrTimeoutMs: csrTimeoutMs as number } : {}),
  };
}

export function validDeprovisionInput(input: unknown): DeprovisionPlantInput {
  return { plantId: plantIdOf(input) };
}
