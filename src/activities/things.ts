import {
  AttachThingPrincipalCommand,
  CreateThingCommand,
  DeleteThingCommand,
  DescribeThingCommand,
  DetachThingPrincipalCommand,
  ListThingPrincipalsCommand,
} from '@aws-sdk/client-iot';
import { ApplicationFailure } from '@temporalio/common';
import { awsCall, awsDelete, isAwsError, toActivityFailure } from '../iot/aws-errors.js';
import { thingNameFor } from '../iot/naming.js';
import type { ThingActivities } from '../workflows/activity-contracts/things.js';
import type { ActivityDeps } from './deps.js';

export function thingActivities({ iot }: Pick<ActivityDeps, 'iot'>): ThingActivities {
  /** Principals of a thing, or none when the thing does not exist. */
  async function principalsOf(thingName: string): Promise<string[]> {
    const principals: string[] = [];
    let nextToken: string | undefined;
    try {
      do {
        const page = await iot.send(new ListThingPrincipalsCommand({ thingName, nextToken }));
        principals.push(...(page.principals ?? []));
        nextToken = page.nextToken;
      } while (nextToken);
    } catch (error) {
      if (isAwsError(error, 'ResourceNotFoundException')) return [];
      throw toActivityFailure('ListThingPrincipals', error, thingName);
    }
    return principals;
  }

  return {
    /** CreateThing is idempotent for the same name and attributes, so a retry is harmless. */
    async createThing({ plantId }: { plantId: string }): Promise<{ thingName: string; thingArn: string }> {
      const thingName = thingNameFor(plantId);
      const attributePayload = { attributes: { plantId }, merge: false };
      try {
        const created = await iot.send(new CreateThingCommand({ thingName, attributePayload }));
        return { thingName, thingArn: created.thingArn ?? '' };
      } catch (error) {
        if (!isAwsError(error, 'ResourceAlreadyExistsException'))
          throw toActivityFailure('CreateThing', error, thingName);
        // Same name with other attributes: only ours if it carries this plant's id.
        const existing = await awsCall('DescribeThing', thingName, () =>
          iot.send(new DescribeThingCommand({ thingName })),
        );
        if (existing.attributes?.plantId !== plantId) {
          throw ApplicationFailure.nonRetryable(
            `Thing ${thingName} already exists and does not belong to plant ${plantId}; rename or delete it first`,
            'ResourceAlreadyExistsException',
          );
        }
        return { thingName, thingArn: existing.thingArn ?? '' };
      }
    },

    async attachThingPrincipal({ thingName, certificateArn }: { thingName: string; certificateArn: string }) {
      await awsCall('AttachThingPrincipal', thingName, () =>
        iot.send(new AttachThingPrincipalCommand({ thingName, principal: certificateArn })),
      );
    },

    async listThingPrincipals({ thingName }: { thingName: string }): Promise<string[]> {
      return principalsOf(thingName);
    },

    async detachThingPrincipal({ thingName, certificateArn }: { thingName: string; certificateArn: string }) {
      try {
        await iot.send(new DetachThingPrincipalCommand({ thingName, principal: certificateArn }));
      } catch (error) {
        if (isAwsError(error, 'ResourceNotFoundException')) return;
        throw toActivityFailure('DetachThingPrincipal', error, thingName);
      }
    },

    /**
     * DetachThingPrincipal is asynchronous on AWS: deleting the certificate or thing right after it
     * fails. Failing retryably here makes Temporal poll with backoff until the detach has landed.
     */
    async waitForThingDetached({ thingName, certificateArn }: { thingName: string; certificateArn: string }) {
      if ((await principalsOf(thingName)).includes(certificateArn)) {
        throw ApplicationFailure.retryable(
          `Certificate ${certificateArn} is still attached to ${thingName}; waiting for the detach to propagate`,
          'DetachPending',
        );
      }
    },

    async deleteThing({ thingName }: { thingName: string }) {
      // "Cannot delete a thing with attached principals": a detach still propagating, so retry.
      await awsDelete('DeleteThing', thingName, 'InvalidRequestException', () =>
        iot.send(new DeleteThingCommand({ thingName })),
      );
    },
  };
}
