import { thingNameFor } from './naming.js';

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

/** True when two policy documents grant the same thing, whatever their whitespace. */
export function samePolicyDocument(a: string, b: string): boolean {
  try {
    return JSON.stringify(JSON.parse(a)) === JSON.stringify(JSON.parse(b));
  } catch {
    return false;
  }
}
