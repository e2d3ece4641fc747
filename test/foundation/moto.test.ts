/** AWS IoT control plane through @aws-sdk/client-iot against the moto server of the test run. */
import {
  CreateThingCommand,
  DeleteThingCommand,
  DescribeThingCommand,
  IoTClient,
  ResourceNotFoundException,
} from '@aws-sdk/client-iot';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { awsClientConfig, resetMoto } from '../support/moto.js';

describe('moto: AWS IoT things', () => {
  const iot = new IoTClient(awsClientConfig());
  beforeEach(resetMoto);
  afterAll(() => iot.destroy());

  it('creates, describes and deletes a thing', async () => {
    const thingName = 'solar-plant-foundation-test';
    const created = await iot.send(
      new CreateThingCommand({ thingName, attributePayload: { attributes: { plantId: 'foundation' } } }),
    );
    expect(created.thingName).toBe(thingName);
    expect(created.thingArn).toMatch(new RegExp(`^arn:aws:iot:us-east-1:\\d{12}:thing/${thingName}$`));

    const described = await iot.send(new DescribeThingCommand({ thingName }));
    expect(described.thingName).toBe(thingName);
    expect(described.attributes).toEqual({ plantId: 'foundation' });

    await iot.send(new DeleteThingCommand({ thingName }));
    await expect(iot.send(new DescribeThingCommand({ thingName }))).rejects.toBeInstanceOf(
      ResourceNotFoundException,
    );
  });

  it('starts every test from an empty moto (resetMoto)', async () => {
    await expect(
      iot.send(new DescribeThingCommand({ thingName: 'solar-plant-foundation-test' })),
    ).rejects.toBeInstanceOf(ResourceNotFoundException);
  });
});
