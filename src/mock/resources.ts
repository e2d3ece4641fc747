/**
 * The seed's mock resources (`solar-plant-mock-...`), derived from the plant id so the same plant
 * always gets the same names and two plants never share one.
 */
import type { PlantIotResources } from '../workflows/contract.js';

export const MOCK_ACCOUNT = '000000000000';
export const MOCK_REGION = 'mock';
export const MOCK_ENDPOINT = 'mock-ats.iot.mock.amazonaws.com';

export const MOCK_THING_NAME_PREFIX = 'solar-plant-mock-';

export function mockThingName(plantId: string): string {
  return `${MOCK_THING_NAME_PREFIX}${plantId}`;
}

export function mockCertificateId(plantId: string): string {
  return `mock-certificate-${plantId}`;
}

export function mockResourcesFor(plantId: string, policyName: string): PlantIotResources {
  const thingName = mockThingName(plantId);
  const certificateId = mockCertificateId(plantId);
  return {
    thingName,
    thingArn: `arn:aws:iot:${MOCK_REGION}:${MOCK_ACCOUNT}:thing/${thingName}`,
    certificateId,
    certificateArn: `arn:aws:iot:${MOCK_REGION}:${MOCK_ACCOUNT}:cert/${certificateId}`,
    policyName,
    endpoint: MOCK_ENDPOINT,
  };
}
