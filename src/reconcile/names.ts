/**
 * Our naming read backwards: which plant a thing, policy or rule name belongs to. A name we could
 * not have produced belongs to no plant, so a look-alike made by someone else is never ours.
 */
import {
  assertValidPlantId,
  PLANT_RULE_PREFIX,
  POLICY_NAME_SUFFIX,
  plantRuleNameFor,
  THING_NAME_PREFIX,
} from '../iot/naming.js';

function validPlantId(candidate: string): string | null {
  try {
    assertValidPlantId(candidate);
    return candidate;
  } catch {
    return null;
  }
}

export function plantIdOfThing(thingName: string): string | null {
  return thingName.startsWith(THING_NAME_PREFIX)
    ? validPlantId(thingName.slice(THING_NAME_PREFIX.length))
    : null;
}

export function plantIdOfPolicy(policyName: string): string | null {
  if (!policyName.startsWith(THING_NAME_PREFIX) || !policyName.endsWith(POLICY_NAME_SUFFIX)) return null;
  return validPlantId(policyName.slice(THING_NAME_PREFIX.length, -POLICY_NAME_SUFFIX.length));
}

/** Inverse of plantRuleNameFor (`_1` is `_`, `_0` is `-`); null for anything it cannot produce. */
export function plantIdOfRule(ruleName: string): string | null {
  if (!ruleName.startsWith(PLANT_RULE_PREFIX)) return null;
  const encoded = ruleName.slice(PLANT_RULE_PREFIX.length);
  const decoded = encoded.replace(/_([01])/g, (_, d: string) => (d === '1' ? '_' : '-'));
  const plantId = validPlantId(decoded);
  return plantId && plantRuleNameFor(plantId) === ruleName ? plantId : null;
}
