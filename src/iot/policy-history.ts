/**
 * The policy documents earlier releases created, kept so that a policy AWS still holds with one
 * of them is known as ours and upgraded to the current document (a new default policy version),
 * instead of being refused as someone else's or left behind by reconciliation.
 *
 * Frozen: never edit a document here. When policy-document.ts changes, add the document it
 * replaces.
 */
import { PLANT_ID_ATTRIBUTE, thingNameFor } from './naming.js';

/** Before the shadow's MQTT topics (issue 16): commands and the HTTP shadow API only. */
function withoutShadowTopics(thing: string, plant: string, condition?: object) {
  const statements = [
    { Effect: 'Allow', Action: ['iot:Connect'], Resource: [`arn:aws:iot:*:*:client/${thing}`] },
    { Effect: 'Allow', Action: ['iot:Publish'], Resource: [`arn:aws:iot:*:*:topic/solar/${plant}/*`] },
    {
      Effect: 'Allow',
      Action: ['iot:Subscribe'],
      Resource: [`arn:aws:iot:*:*:topicfilter/solar/${plant}/commands/*`],
    },
    {
      Effect: 'Allow',
      Action: ['iot:Receive'],
      Resource: [`arn:aws:iot:*:*:topic/solar/${plant}/commands/*`],
    },
    {
      Effect: 'Allow',
      Action: ['iot:UpdateThingShadow', 'iot:GetThingShadow', 'iot:DeleteThingShadow'],
      Resource: [`arn:aws:iot:*:*:thing/${thing}`],
    },
  ];
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: condition ? statements.map((s) => ({ ...s, Condition: condition })) : statements,
  });
}

export function earlierPolicyDocumentsFor(plantId: string): string[] {
  return [withoutShadowTopics(thingNameFor(plantId), plantId)];
}

export function earlierSharedPolicyDocuments(): string[] {
  const thing = `\${iot:Connection.Thing.ThingName}`;
  const plant = `\${iot:Connection.Thing.Attributes[${PLANT_ID_ATTRIBUTE}]}`;
  return [withoutShadowTopics(thing, plant, { Bool: { 'iot:Connection.Thing.IsAttached': ['true'] } })];
}
