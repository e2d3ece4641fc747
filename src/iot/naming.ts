/**
 * Names of a plant's AWS IoT resources, derived from its plant id.
 *
 * Pure functions with no Node imports: workflows use them too, to refuse bad input before any
 * activity runs. Derivation (rather than random names) is what makes every step idempotent and
 * lets reconciliation prove a resource is ours.
 */

/** Plant ids become MQTT topic levels and thing names: no `/`, `+`, `#` and nothing AWS rejects. */
const PLANT_ID_PATTERN = /^[A-Za-z0-9_-]+$/;
export const MAX_PLANT_ID_LENGTH = 64;

export const THING_NAME_PREFIX = 'solar-plant-';
export const POLICY_NAME_SUFFIX = '-policy';
export const PLANT_RULE_PREFIX = 'solar_plant_rule_';
/**
 * The one policy shared by all plants (POLICY_MODE=shared, the default), written with thing policy
 * variables. `solar-plants-` can never be a plant's own policy name (`solar-plant-<id>-policy`).
 */
export const SHARED_POLICY_NAME = 'solar-plants-policy';
/** The thing attribute the shared policy scopes topics by; createThing sets it to the plant id. */
export const PLANT_ID_ATTRIBUTE = 'plantId';
/** The one rule shared by all plants (default mode): `solar/+/data` to the telemetry queue. */
export const SHARED_RULE_NAME = 'solar_plant_telemetry';

export class InvalidPlantIdError extends Error {
  override readonly name = 'InvalidPlantIdError';
}

/** Throws InvalidPlantIdError with a message a person can act on. */
export function assertValidPlantId(plantId: unknown): asserts plantId is string {
  if (typeof plantId !== 'string' || plantId.length === 0) {
    throw new InvalidPlantIdError('plantId must be a non-empty string');
  }
  if (plantId.length > MAX_PLANT_ID_LENGTH) {
    throw new InvalidPlantIdError(
      `plantId is ${plantId.length} characters long; at most ${MAX_PLANT_ID_LENGTH} are allowed`,
    );
  }
  if (!PLANT_ID_PATTERN.test(plantId)) {
    throw new InvalidPlantIdError(
      `plantId ${JSON.stringify(plantId)} contains characters AWS IoT names or MQTT topics reject; ` +
        'use letters, digits, "-" and "_" only (a UUID works)',
    );
  }
}

export function thingNameFor(plantId: string): string {
  return `${THING_NAME_PREFIX}${plantId}`;
}

export function policyNameFor(plantId: string): string {
  return `${THING_NAME_PREFIX}${plantId}${POLICY_NAME_SUFFIX}`;
}

/**
 * Topic rule names allow only `[a-zA-Z0-9_]`. Escaping `_` as `_1` and `-` as `_0` keeps the
 * mapping one-to-one, so plants `a-b` and `a_b` never share a rule.
 */
export function plantRuleNameFor(plantId: string): string {
  return PLANT_RULE_PREFIX + plantId.replace(/_/g, '_1').replace(/-/g, '_0');
}

export function telemetryTopicFor(plantId: string): string {
  return `solar/${plantId}/data`;
}

export function commandTopicFor(plantId: string, command = ''): string {
  return `solar/${plantId}/commands${command ? `/${command}` : ''}`;
}
