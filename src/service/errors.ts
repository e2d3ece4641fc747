/**
 * Errors of the library API. Each has a stable `code` (what scripts and API clients match on), a
 * `kind` that the HTTP API turns into a status and the CLI into an exit code, and a message that
 * says what failed, for which input, and what to do.
 */
export type ErrorKind = 'invalid' | 'not_found' | 'conflict' | 'unavailable' | 'failed' | 'timeout';

export class SolarIotError extends Error {
  override readonly name: string = 'SolarIotError';
  constructor(
    readonly code: string,
    readonly kind: ErrorKind,
    message: string,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(message, options);
    this.details = options?.details;
  }

  /** Machine-readable context (e.g. the id of a plant that was created before the failure). */
  readonly details: Record<string, unknown> | undefined;
}

export class InvalidInputError extends SolarIotError {
  override readonly name = 'InvalidInputError';
  constructor(message: string, code = 'invalid_input') {
    super(code, 'invalid', message);
  }
}

export class PlantNotFoundError extends SolarIotError {
  override readonly name = 'PlantNotFoundError';
  constructor(readonly plantId: string) {
    super(
      'plant_not_found',
      'not_found',
      `Plant ${plantId} does not exist; list plants with GET /plants or \`solar-iot plants list\``,
    );
  }
}

export class NotFoundError extends SolarIotError {
  override readonly name = 'NotFoundError';
  constructor(code: string, message: string) {
    super(code, 'not_found', message);
  }
}

export class ConflictError extends SolarIotError {
  override readonly name: string = 'ConflictError';
  constructor(code: string, message: string) {
    super(code, 'conflict', message);
  }
}

/** The shadow changed since the version the caller read: read it again and reapply. */
export class ShadowVersionConflictError extends ConflictError {
  override readonly name = 'ShadowVersionConflictError';
  constructor(
    readonly plantId: string,
    readonly expectedVersion: number,
  ) {
    super(
      'version_conflict',
      `The shadow of plant ${plantId} is no longer at version ${expectedVersion}; read it again and retry with its current version`,
    );
  }
}

/** A dependency (Temporal, PostgreSQL, AWS) did not answer, or a setting it needs is missing. */
export class DependencyUnavailableError extends SolarIotError {
  override readonly name = 'DependencyUnavailableError';
  constructor(
    readonly dependency: 'temporal' | 'postgresql' | 'aws' | 'configuration',
    message: string,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(
      dependency === 'configuration' ? 'not_configured' : 'dependency_unavailable',
      'unavailable',
      message,
      options,
    );
  }
}

/** What a request waits for did not come within its deadline; the work may still go on (the message says). */
export class AnswerTimeoutError extends SolarIotError {
  override readonly name = 'AnswerTimeoutError';
  constructor(code: string, message: string) {
    super(code, 'timeout', message);
  }
}

/** An operation the caller waited for ended in failure. */
export class OperationFailedError extends SolarIotError {
  override readonly name = 'OperationFailedError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('operation_failed', 'failed', message, options);
  }
}

function errorCode(error: unknown): unknown {
  return (error as { code?: unknown } | null)?.code;
}

const PG_UNAVAILABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EHOSTUNREACH',
  '57P01',
  '57P03',
]);

/** Connection-level PostgreSQL failures become DependencyUnavailableError; the rest pass through. */
export function mapDbError(error: unknown): unknown {
  if (error instanceof SolarIotError) return error;
  // drizzle wraps the driver's error ("Failed query: ..."): look down the cause chain.
  for (let e: unknown = error, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = errorCode(e);
    const message = e instanceof Error ? e.message : String(e);
    if (
      (typeof code === 'string' && PG_UNAVAILABLE.has(code)) ||
      /Connection terminated|connect ECONNREFUSED|timeout exceeded when trying to connect/i.test(message)
    ) {
      return new DependencyUnavailableError(
        'postgresql',
        `PostgreSQL is unreachable (${message}); check DATABASE_URL and that the server runs`,
        { cause: error },
      );
    }
  }
  return error;
}

/** gRPC UNAVAILABLE (14) and DEADLINE_EXCEEDED (4), or a failed connect, mean Temporal is down. */
export function mapTemporalError(error: unknown): unknown {
  if (error instanceof SolarIotError) return error;
  const cause = (error as { cause?: unknown } | null)?.cause;
  const code = errorCode(error) ?? errorCode(cause);
  // The client wraps gRPC errors ("Failed to describe workflow"); the cause says what happened.
  const message =
    cause instanceof Error ? cause.message : error instanceof Error ? error.message : String(error);
  if (
    code === 14 ||
    code === 4 ||
    /Failed to connect|transport error|tcp connect error|Connection refused|ECONNREFUSED|Deadline exceeded/i.test(
      message,
    )
  ) {
    return new DependencyUnavailableError(
      'temporal',
      `Temporal is unreachable (${message.split('\n')[0]}); check TEMPORAL_ADDRESS and that the server runs`,
      { cause: error },
    );
  }
  return error;
}
