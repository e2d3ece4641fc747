/** What a caller may give as a plant's id and name. */
import { assertValidPlantId, InvalidPlantIdError } from '../iot/naming.js';
import { InvalidInputError } from './errors.js';

export const MAX_PLANT_NAME_LENGTH = 256;

/** C0 and C1 controls (NUL, ESC, CSI...) and bidirectional overrides: nothing a name needs. */
const CONTROL_CHARACTER = /[\p{Cc}\u202a-\u202e\u2066-\u2069]/u;

/** A plant name is shown in terminals, tables and logs. */
export function assertPlantName(name: unknown): asserts name is string {
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

export function assertPlantId(plantId: unknown): asserts plantId is string {
  try {
    assertValidPlantId(plantId);
  } catch (error) {
    if (error instanceof InvalidPlantIdError) throw new InvalidInputError(error.message, 'invalid_plant_id');
    throw error;
  }
}
