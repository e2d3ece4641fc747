import {
  CreatePolicyCommand,
  CreatePolicyVersionCommand,
  DeletePolicyVersionCommand,
  GetPolicyCommand,
  type IoTClient,
  ListPolicyVersionsCommand,
} from '@aws-sdk/client-iot';
import { ApplicationFailure } from '@temporalio/common';
import { awsCall, isAwsError, toActivityFailure } from '../iot/aws-errors.js';
import type { DocumentOrigin } from '../iot/policy-document.js';

/**
 * Creating, adopting and upgrading a policy of ours, and clearing its old versions: the version
 * bookkeeping AWS imposes on a policy whose document changes between releases.
 */
export function policyVersions(iot: IoTClient) {
  /** AWS keeps at most 5 versions of a policy. */
  const MAX_POLICY_VERSIONS = 5;

  /** The non-default versions of a policy, oldest first. */
  async function olderVersions(policyName: string): Promise<string[]> {
    const { policyVersions } = await awsCall('ListPolicyVersions', policyName, () =>
      iot.send(new ListPolicyVersionsCommand({ policyName })),
    );
    return (policyVersions ?? [])
      .filter((v) => !v.isDefaultVersion && v.versionId)
      .map((v) => v.versionId as string)
      .sort((a, b) => Number(a) - Number(b));
  }

  /** Deletes every version but the default; false when there was none. */
  async function deleteOlderVersions(policyName: string): Promise<boolean> {
    const older = await olderVersions(policyName);
    for (const policyVersionId of older)
      await awsCall('DeletePolicyVersion', policyName, () =>
        iot.send(new DeletePolicyVersionCommand({ policyName, policyVersionId })),
      );
    return older.length > 0;
  }

  /**
   * A policy of ours holding a document an earlier release made gets the current one as its new
   * default version: certificates attached to it get the new grants at once. The oldest
   * non-default version goes first when AWS already holds five.
   */
  async function upgrade(policyName: string, policyDocument: string) {
    const older = await olderVersions(policyName);
    if (older.length >= MAX_POLICY_VERSIONS - 1) {
      const versionId = older[0] as string;
      await awsCall('DeletePolicyVersion', policyName, () =>
        iot.send(new DeletePolicyVersionCommand({ policyName, policyVersionId: versionId })),
      );
    }
    await awsCall('CreatePolicyVersion', policyName, () =>
      iot.send(new CreatePolicyVersionCommand({ policyName, policyDocument, setAsDefault: true })),
    );
  }

  /** What to do with a policy of that name AWS already holds: keep it, upgrade it, or refuse it. */
  async function adopt(policyName: string, origin: DocumentOrigin, policyDocument: string, notOurs: string) {
    if (origin === 'foreign')
      throw ApplicationFailure.nonRetryable(notOurs, 'ResourceAlreadyExistsException');
    if (origin === 'earlier') await upgrade(policyName, policyDocument);
  }

  /**
   * CreatePolicy; a policy of that name already there counts as created only if its document is
   * ours (an earlier release's is upgraded).
   */
  async function createOrAdopt(
    policyName: string,
    policyDocument: string,
    originOf: (document: string) => DocumentOrigin,
    notOurs: string,
  ) {
    try {
      await iot.send(new CreatePolicyCommand({ policyName, policyDocument }));
    } catch (error) {
      if (!isAwsError(error, 'ResourceAlreadyExistsException'))
        throw toActivityFailure('CreatePolicy', error, policyName);
      const existing = await awsCall('GetPolicy', policyName, () =>
        iot.send(new GetPolicyCommand({ policyName })),
      );
      await adopt(policyName, originOf(existing.policyDocument ?? ''), policyDocument, notOurs);
    }
  }

  return { createOrAdopt, adopt, deleteOlderVersions };
}
