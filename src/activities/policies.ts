import {
  AttachPolicyCommand,
  CreatePolicyCommand,
  DeletePolicyCommand,
  DetachPolicyCommand,
  GetPolicyCommand,
} from '@aws-sdk/client-iot';
import { ApplicationFailure } from '@temporalio/common';
import { awsCall, isAwsError, toActivityFailure } from '../iot/aws-errors.js';
import { policyNameFor, SHARED_POLICY_NAME } from '../iot/naming.js';
import { policyDocumentFor, samePolicyDocument, sharedPolicyDocument } from '../iot/policy-document.js';
import type { PlantPolicy, PolicyActivities } from '../workflows/activity-contracts/policies.js';
import type { ActivityDeps } from './deps.js';
import { recheckEvery, SHARED_RESOURCE_TTL_MS } from './recheck.js';

export function policyActivities({
  iot,
  settings,
}: Pick<ActivityDeps, 'iot' | 'settings'>): PolicyActivities {
  /** CreatePolicy; a policy of that name already there counts as created only if its document is ours. */
  async function createOrAdopt(policyName: string, policyDocument: string, notOurs: string) {
    try {
      await iot.send(new CreatePolicyCommand({ policyName, policyDocument }));
    } catch (error) {
      if (!isAwsError(error, 'ResourceAlreadyExistsException'))
        throw toActivityFailure('CreatePolicy', error, policyName);
      const existing = await awsCall('GetPolicy', policyName, () =>
        iot.send(new GetPolicyCommand({ policyName })),
      );
      if (!samePolicyDocument(existing.policyDocument ?? '', policyDocument))
        throw ApplicationFailure.nonRetryable(notOurs, 'ResourceAlreadyExistsException');
    }
  }

  /**
   * The shared policy exists with our document once this resolves: GetPolicy first, CreatePolicy
   * only when it is missing (normally once per account; another worker creating it meanwhile is
   * fine). Done at most once a minute per worker process (recheck.ts), so a plant normally costs
   * no call here.
   */
  const ensureSharedPolicy = recheckEvery(SHARED_RESOURCE_TTL_MS, async () => {
    const policyName = SHARED_POLICY_NAME;
    const policyDocument = sharedPolicyDocument();
    const notOurs = `Policy ${policyName} exists with a different document; update it with CreatePolicyVersion (set as default) or delete it, then retry`;
    try {
      const existing = await iot.send(new GetPolicyCommand({ policyName }));
      if (!samePolicyDocument(existing.policyDocument ?? '', policyDocument))
        throw ApplicationFailure.nonRetryable(notOurs, 'ResourceAlreadyExistsException');
      return;
    } catch (error) {
      if (error instanceof ApplicationFailure) throw error;
      if (!isAwsError(error, 'ResourceNotFoundException'))
        throw toActivityFailure('GetPolicy', error, policyName);
    }
    await createOrAdopt(policyName, policyDocument, notOurs);
  });

  return {
    /**
     * Which policy this plant's certificate gets. POLICY_MODE=shared: the shared policy, made
     * sure of at most once a minute per worker process. per-plant: the plant's own, which the
     * workflow then creates with createPolicy (on the CreatePolicy quota queue).
     */
    async plantPolicy({ plantId }: { plantId: string }): Promise<PlantPolicy> {
      if (settings.policyMode !== 'shared') return { policyName: policyNameFor(plantId), shared: false };
      await ensureSharedPolicy();
      return { policyName: SHARED_POLICY_NAME, shared: true };
    },

    /** Existing policy of the same name counts as created only if its document is this plant's. */
    async createPolicy({ plantId }: { plantId: string }): Promise<{ policyName: string }> {
      const policyName = policyNameFor(plantId);
      await createOrAdopt(
        policyName,
        policyDocumentFor(plantId),
        `Policy ${policyName} already exists with a different document; it is not ours to reuse`,
      );
      return { policyName };
    },

    /**
     * A shared policy deleted out of band (this worker checked it less than a minute ago) is made
     * again and attached once more, instead of failing provisions until the next check: AWS
     * answers ResourceNotFound for a missing policy and for a missing certificate alike, and a
     * certificate that is really gone fails the second attach as before.
     */
    async attachPolicy({ policyName, certificateArn }: { policyName: string; certificateArn: string }) {
      const attach = () => iot.send(new AttachPolicyCommand({ policyName, target: certificateArn }));
      try {
        await attach();
      } catch (error) {
        if (policyName !== SHARED_POLICY_NAME || !isAwsError(error, 'ResourceNotFoundException'))
          throw toActivityFailure('AttachPolicy', error, policyName);
        await ensureSharedPolicy({ fresh: true });
        await awsCall('AttachPolicy', policyName, attach);
      }
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
