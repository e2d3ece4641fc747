import { PLANT_ID_ATTRIBUTE, thingNameFor } from './naming.js';

/**
 * The seed's IoT policy template, scoped to one plant: connect as its own thing name, publish
 * under `solar/{plantId}/`, subscribe to and receive its own commands, and use its own shadow.
 * Returned as a compact JSON string because AWS compares documents as text when we check that
 * an existing policy is ours.
 */
export function policyDocumentFor(plantId: string): string {
  const thingName = thingNameFor(plantId);
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      { Effect: 'Allow', Action: ['iot:Connect'], Resource: [`arn:aws:iot:*:*:client/${thingName}`] },
      { Effect: 'Allow', Action: ['iot:Publish'], Resource: [`arn:aws:iot:*:*:topic/solar/${plantId}/*`] },
      {
        Effect: 'Allow',
        Action: ['iot:Subscribe'],
        Resource: [`arn:aws:iot:*:*:topicfilter/solar/${plantId}/commands/*`],
      },
      {
        Effect: 'Allow',
        Action: ['iot:Receive'],
        Resource: [`arn:aws:iot:*:*:topic/solar/${plantId}/commands/*`],
      },
      {
        Effect: 'Allow',
        Action: ['iot:UpdateThingShadow', 'iot:GetThingShadow', 'iot:DeleteThingShadow'],
        Resource: [`arn:aws:iot:*:*:thing/${thingName}`],
      },
    ],
  });
}

/** Resolves to the name of the thing the connecting certificate is attached to. */
export const THING_NAME_VARIABLE = `\${iot:Connection.Thing.ThingName}`;
/** Resolves to that thing's plantId attribute. */
export const PLANT_ID_VARIABLE = `\${iot:Connection.Thing.Attributes[${PLANT_ID_ATTRIBUTE}]}`;

/**
 * The same grants as policyDocumentFor, for every plant at once, through AWS IoT thing policy
 * variables (https://docs.aws.amazon.com/iot/latest/developerguide/thing-policy-variables.html):
 *
 * - connect only when the certificate is attached to a registered thing
 *   (`iot:Connection.Thing.IsAttached`) and the client id is that thing's name;
 * - publish, subscribe and receive only under `solar/<the thing's plantId attribute>/`; the
 *   attribute is set by createThing (devices cannot change registry attributes) and an
 *   unattached certificate leaves the variable unresolved, which AWS denies;
 * - its own shadow only.
 *
 * Policy variables need Version 2012-10-17. A plant id fits an attribute value and a topic level
 * (naming.ts). Changing this document later needs CreatePolicyVersion (at most 5 versions): the
 * shared policy is refused, loudly, when AWS holds another document under its name.
 */
export function sharedPolicyDocument(): string {
  const thing = THING_NAME_VARIABLE;
  const plant = PLANT_ID_VARIABLE;
  const attached = { Bool: { 'iot:Connection.Thing.IsAttached': ['true'] } };
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Action: ['iot:Connect'],
        Resource: [`arn:aws:iot:*:*:client/${thing}`],
        Condition: attached,
      },
      {
        Effect: 'Allow',
        Action: ['iot:Publish'],
        Resource: [`arn:aws:iot:*:*:topic/solar/${plant}/*`],
        Condition: attached,
      },
      {
        Effect: 'Allow',
        Action: ['iot:Subscribe'],
        Resource: [`arn:aws:iot:*:*:topicfilter/solar/${plant}/commands/*`],
        Condition: attached,
      },
      {
        Effect: 'Allow',
        Action: ['iot:Receive'],
        Resource: [`arn:aws:iot:*:*:topic/solar/${plant}/commands/*`],
        Condition: attached,
      },
      {
        Effect: 'Allow',
        Action: ['iot:UpdateThingShadow', 'iot:GetThingShadow', 'iot:DeleteThingShadow'],
        Resource: [`arn:aws:iot:*:*:thing/${thing}`],
        Condition: attached,
      },
    ],
  });
}

/** True when two policy documents grant the same thing, whatever their whitespace. */
export function samePolicyDocument(a: string, b: string): boolean {
  try {
    return JSON.stringify(JSON.parse(a)) === JSON.stringify(JSON.parse(b));
  } catch {
    return false;
  }
}
