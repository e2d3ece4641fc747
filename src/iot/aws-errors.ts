import { ApplicationFailure } from '@temporalio/common';

/**
 * AWS errors that retrying cannot fix. LimitExceededException is a hard quota in AWS IoT (for
 * example 10 policies per certificate) even though the SDK classifies it as retryable.
 */
const NON_RETRYABLE = new Set([
  'InvalidRequestException',
  'MalformedPolicyException',
  'LimitExceededException',
  'UnauthorizedException',
  'AccessDeniedException',
  'CertificateValidationException',
  'CertificateStateException',
  'CertificateConflictException',
  'VersionsLimitExceededException',
  'SqlParseException',
  'ValidationException',
  'InvalidClientTokenId',
  'UnrecognizedClientException',
  'ExpiredTokenException',
]);

/** Failure types callers may want to retry although AWS answers them with a 4xx. */
const RETRYABLE = new Set([
  'ThrottlingException',
  'ServiceUnavailableException',
  'InternalFailureException',
  'InternalException',
  'InternalServerException',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
  'ConflictingResourceUpdateException',
]);

interface AwsLikeError {
  name?: string;
  message?: string;
  code?: string;
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number; requestId?: string };
}

export function awsErrorName(error: unknown): string {
  const e = error as AwsLikeError;
  return e?.name ?? e?.code ?? 'Error';
}

export function isAwsError(error: unknown, ...names: string[]): boolean {
  return names.includes(awsErrorName(error));
}

export function isRetryableAwsError(error: unknown): boolean {
  const e = error as AwsLikeError;
  const name = awsErrorName(error);
  if (NON_RETRYABLE.has(name)) return false;
  if (RETRYABLE.has(name)) return true;
  const status = e?.$metadata?.httpStatusCode;
  if (status === undefined) return true; // no answer at all: network reset, DNS, socket timeout
  return status >= 500 || status === 429;
}

/**
 * Turns whatever an AWS call threw into a Temporal ApplicationFailure whose type is the AWS error
 * name, so retry policies, the Web UI and the saga see what failed and whether retrying helps.
 */
export function toActivityFailure(operation: string, error: unknown, context = ''): ApplicationFailure {
  if (error instanceof ApplicationFailure) return error;
  const e = error as AwsLikeError;
  const name = awsErrorName(error);
  const where = context ? ` (${context})` : '';
  const message = `${operation}${where} failed: ${name}: ${e?.message ?? String(error)}`;
  const details = [
    {
      awsError: name,
      httpStatus: e?.$metadata?.httpStatusCode ?? null,
      requestId: e?.$metadata?.requestId ?? null,
    },
  ];
  return isRetryableAwsError(error)
    ? ApplicationFailure.retryable(message, name, ...details)
    : ApplicationFailure.nonRetryable(message, name, ...details);
}

/** Runs one AWS call and rethrows its failure as an ActivityFailure-ready ApplicationFailure. */
export async function awsCall<T>(operation: string, context: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw toActivityFailure(operation, error, context);
  }
}

/**
 * Runs an AWS delete as an idempotent activity step: a resource that does not exist is already
 * deleted, and `stillAttached` (the error AWS answers while a detach is still propagating, for
 * minutes) is retryable, so Temporal tries again with backoff. Anything else as awsCall.
 */
export async function awsDelete(
  operation: string,
  subject: string,
  stillAttached: string,
  call: () => Promise<unknown>,
): Promise<void> {
  try {
    await call();
  } catch (error) {
    if (isAwsError(error, 'ResourceNotFoundException')) return;
    if (isAwsError(error, stillAttached)) {
      throw ApplicationFailure.retryable(
        `${operation} ${subject}: ${(error as Error).message}`,
        stillAttached,
      );
    }
    throw toActivityFailure(operation, error, subject);
  }
}
