import { awsErrorName, isRetryableAwsError } from '../iot/aws-errors.js';
import { DependencyUnavailableError, SolarIotError } from './errors.js';

/**
 * AWS failures the caller cannot fix by changing its input (throttling, 5xx, no connection)
 * become DependencyUnavailableError; the rest are returned unchanged for the caller to map.
 */
export function mapAwsUnavailable(error: unknown, operation: string): unknown {
  if (error instanceof SolarIotError) return error;
  if (!isRetryableAwsError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new DependencyUnavailableError(
    'aws',
    `AWS did not complete ${operation} (${awsErrorName(error)}: ${message}); try again shortly`,
    {
      cause: error,
    },
  );
}
