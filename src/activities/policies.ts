import {
  AttachPolicyCommand,
  CreatePolicyCommand,
  DeletePolicyCommand,
  DetachPolicyCommand,
  GetPolicyCommand,
} from '@aws-sdk/client-iot';
import { ApplicationFailure } from '@temporalio/common';
import { awsCall, isAwsError, toActivityFailure } from '../iot/aws-errors.js';
import { policyNameFor } from '../iot/naming.js';
import { policyDocumentFor, samePolicyDocument } from '../iot/policy-document.js';
import type { ActivityDeps } from './deps.js';

export function policyActivities({ iot }: ActivityDeps) {
  return {
    /** Existing policy of the same name counts as created only if its document is this plant's. */
    async createPolicy({ plantId }: { plantId: string }): Promise<{ policyName: string }> {
      const policyName = policyNameFor(plantId);
      const policyDocument = policyDocumentFor(plantId);
      try {
        await iot.send(new CreatePolicyCommand({ policyName, policyDocument }));
      } catch (error) {
        if (!isAwsError(error, 'ResourceAlreadyExistsException'))
          throw toActivityFailure('CreatePolicy', error, policyName);
        const existing = await awsCall('GetPolicy', policyName, () =>
          iot.send(new GetPolicyCommand({ policyName })),
        );
        if (!samePolicyDocument(existing.policyDocument ?? '', policyDocument)) {
          throw ApplicationFailure.nonRetryable(
            `Policy ${policyName} already exists with a different document; it is not ours to reuse`,
            'ResourceAlreadyExistsException',
          );
        }
      }
      return { policyName };
    },

    async attachPolicy({ policyName, certificateArn }: { policyName: string; certificateArn: string }) {
      await awsCall('AttachPolicy', policyName, () =>
        iot.send(new AttachPolicyCommand({ policyName, target: certificateArn })),
      );
    },

    async detachPolicy({ policyName, certificateArn }: { policyName: string; certificateArn: string }) {
      try {
        await iot.send(new DetachPolicyCommand({ policyName, target: certificateArn }));
      } catch (error) {
        if (isAwsError(error, 'ResourceNotFoundException')) return;
        throw toActivityFailure('DetachPolicy', error, policyName);
      }
    },

    /** After a detach, AWS can refuse the delete for minutes: DeleteConflict is retried with backoff. */
    async deletePolicy({ policyName }: { policyName: string }) {
      try {
        await iot.send(new DeletePolicyCommand({ policyName }));
      } catch (error) {
        if (isAwsError(error, 'ResourceNotFoundException')) return;
        if (isAwsError(error, 'DeleteConflictException')) {
          throw ApplicationFailure.retryable(
            `DeletePolicy ${policyName}: ${(error as Error).message}`,
            'DeleteConflictException',
          );
        }
        throw toActivityFailure('DeletePolicy', error, policyName);
      }
    },
  };
}
