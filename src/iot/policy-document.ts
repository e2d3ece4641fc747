import { PLANT_ID_ATTRIBUTE, thingNameFor } from './naming.js';
import { earlierPolicyDocumentsFor, earlierSharedPolicyDocuments } from './policy-history.js';
import { shadowTopicPrefix } from './shadow-state.js';

/** Resolves to the name of the thing the connecting certificate is attached to. */
export const THING_NAME_VARIABLE = `\${iot:Connection.Thing.ThingName}`;
/** Resolves to that thing's plantId attribute. */
export const PLANT_ID_VARIABLE = `\${iot:Connection.Thing.Attributes[${PLANT_ID_ATTRIBUTE}]}`;

/** AWS IoT refuses a policy document longer than this, whitespace excluded (CreatePolicy). */
export const MAX_POLICY_DOCUMENT_LENGTH = 2048;

/**
 * The MQTT topics of a thing's device shadows, classic and named
 * (https://docs.aws.amazon.com/iot/latest/developerguide/device-shadow-mqtt.html): the device
 * publishes requests (get, update, delete) and subscribes to the service's answers (accepted,
 * rejected, update/delta, update/documents).
 *
 * `$aws/things/<thing>/shadow*` covers both prefixes, `.../shadow` (classic) and
 * `.../shadow/name/<shadowName>` (named), in one pattern: written out, the two prefixes times
 * seven topics times two ARN kinds do not fit the 2048-character limit. The `/` after the thing
 * name keeps it to this thing; the endings keep requests and answers apart (a device cannot
 * publish on accepted or delta, nor subscribe to `shadow/#`).
 *
 * Both policy modes name the thing here through `${iot:Connection.Thing.ThingName}`, which AWS
 * resolves only to a thing the connecting certificate is attached to: written literally, a
 * 76-character thing name (a 64-character plant id) seven times in two ARN kinds takes the
 * per-plant document past 2048 characters.
 */
export function shadowTopics(thing: string): { requests: string[]; answers: string[] } {
  const prefix = `$aws/things/${thing}/shadow*`;
  return {
    requests: SHADOW_REQUESTS.map((op) => `${prefix}/${op}`),
    answers: SHADOW_ANSWERS.map((s) => `${prefix}/${s}`),
  };
}

/** What a device publishes to its shadow, after the prefix. */
const SHADOW_REQUESTS = ['get', 'update', 'delete'];
/** The shadow service's answers: one word follows each request (`get/accepted`), the rest are whole. */
const SHADOW_ANSWERS = ['accepted', 'rejected', 'update/delta', 'update/documents'];

/**
 * The topics of shadowTopics written out for one thing's classic shadow, as a device uses them
 * (the credentials bundle's device.json): what it publishes and what it subscribes to.
 */
export function deviceShadowTopics(thingName: string): { publish: string[]; subscribe: string[] } {
  const prefix = shadowTopicPrefix(thingName);
  const [perRequest, whole] = [
    SHADOW_ANSWERS.filter((a) => !a.includes('/')),
    SHADOW_ANSWERS.filter((a) => a.includes('/')),
  ];
  return {
    publish: SHADOW_REQUESTS.map((op) => `${prefix}/${op}`),
    subscribe: [
      ...SHADOW_REQUESTS.flatMap((op) => perRequest.map((a) => `${prefix}/${op}/${a}`)),
      ...whole.map((a) => `${prefix}/${a}`),
    ],
  };
}

const arn = (kind: 'client' | 'topic' | 'topicfilter' | 'thing', name: string) =>
  `arn:aws:iot:*:*:${kind}/${name}`;

/**
 * What a device may do, for a thing name and a plant id (literal, or policy variables):
 * connect as its thing; publish under `solar/<plant>/` and its shadow requests; subscribe to and
 * receive its commands and its shadow answers (Subscribe is checked against topicfilter ARNs,
 * Receive against topic ARNs); use its shadow over HTTPS.
 */
function grants(thing: string, plant: string) {
  const shadow = shadowTopics(THING_NAME_VARIABLE);
  const inbound = [`solar/${plant}/commands/*`, ...shadow.answers];
  return [
    { Effect: 'Allow', Action: ['iot:Connect'], Resource: [arn('client', thing)] },
    {
      Effect: 'Allow',
      Action: ['iot:Publish'],
      Resource: [arn('topic', `solar/${plant}/*`), ...shadow.requests.map((t) => arn('topic', t))],
    },
    {
      Effect: 'Allow',
      Action: ['iot:Subscribe', 'iot:Receive'],
      Resource: [...inbound.map((t) => arn('topicfilter', t)), ...inbound.map((t) => arn('topic', t))],
    },
    {
      Effect: 'Allow',
      Action: ['iot:UpdateThingShadow', 'iot:GetThingShadow', 'iot:DeleteThingShadow'],
      Resource: [arn('thing', thing)],
    },
  ];
}

/**
 * The seed's IoT policy template, scoped to one plant and its thing (see grants).
 * Returned as a compact JSON string because AWS compares documents as text when we check that
 * an existing policy is ours.
 */
export function policyDocumentFor(plantId: string): string {
  return JSON.stringify({ Version: '2012-10-17', Statement: grants(thingNameFor(plantId), plantId) });
}

/**
 * The same grants as policyDocumentFor, for every plant at once, through AWS IoT thing policy
 * variables (https://docs.aws.amazon.com/iot/latest/developerguide/thing-policy-variables.html):
 *
 * - every statement only when the certificate is attached to a registered thing
 *   (`iot:Connection.Thing.IsAttached`), connecting with that thing's name as client id;
 * - topics under `solar/<the thing's plantId attribute>/`; the attribute is set by createThing
 *   (devices cannot change registry attributes) and an unattached certificate leaves the
 *   variable unresolved, which AWS denies;
 * - its own thing's shadow only.
 *
 * Policy variables need Version 2012-10-17. A plant id fits an attribute value and a topic level
 * (naming.ts). A change of this document reaches existing deployments as a new default policy
 * version (policies.ts), when AWS holds one of the documents earlier releases made
 * (policy-history.ts); any other document under the shared name is refused, loudly.
 */
export function sharedPolicyDocument(): string {
  const attached = { Bool: { 'iot:Connection.Thing.IsAttached': ['true'] } };
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: grants(THING_NAME_VARIABLE, PLANT_ID_VARIABLE).map((s) => ({ ...s, Condition: attached })),
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

/**
 * How a document AWS holds relates to ours: the current one, one an earlier release made (to be
 * upgraded with a new policy version), or not ours at all.
 */
export type DocumentOrigin = 'current' | 'earlier' | 'foreign';

function originOf(document: string, current: string, earlier: readonly string[]): DocumentOrigin {
  if (samePolicyDocument(document, current)) return 'current';
  return earlier.some((e) => samePolicyDocument(document, e)) ? 'earlier' : 'foreign';
}

export function plantPolicyOrigin(document: string, plantId: string): DocumentOrigin {
  return originOf(document, policyDocumentFor(plantId), earlierPolicyDocumentsFor(plantId));
}

export function sharedPolicyOrigin(document: string): DocumentOrigin {
  return originOf(document, sharedPolicyDocument(), earlierSharedPolicyDocuments());
}
