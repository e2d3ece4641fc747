import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { awsDelete } from '../../src/iot/aws-errors.js';

function awsError(name: string, httpStatusCode: number): Error {
  return Object.assign(new Error(`${name} from AWS`), { name, $metadata: { httpStatusCode } });
}

const failing = (error: Error) => () => Promise.reject(error);

describe('awsDelete (the delete activities of things, certificates and policies)', () => {
  it('resolves when the resource is already gone', async () => {
    await expect(
      awsDelete(
        'DeleteThing',
        't1',
        'InvalidRequestException',
        failing(awsError('ResourceNotFoundException', 404)),
      ),
    ).resolves.toBeUndefined();
  });

  it('makes the still-attached refusal retryable, typed with its AWS name', async () => {
    const error = await awsDelete(
      'DeletePolicy',
      'p1',
      'DeleteConflictException',
      failing(awsError('DeleteConflictException', 409)),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApplicationFailure);
    expect(error).toMatchObject({
      type: 'DeleteConflictException',
      nonRetryable: false,
      message: 'DeletePolicy p1: DeleteConflictException from AWS',
    });
  });

  it('turns any other error into the activity failure awsCall gives', async () => {
    const error = await awsDelete(
      'DeleteCertificate',
      'c1',
      'DeleteConflictException',
      failing(awsError('InvalidRequestException', 400)),
    ).catch((e: unknown) => e);
    expect(error).toMatchObject({
      type: 'InvalidRequestException',
      nonRetryable: true,
      message: 'DeleteCertificate (c1) failed: InvalidRequestException: InvalidRequestException from AWS',
    });
  });
});
