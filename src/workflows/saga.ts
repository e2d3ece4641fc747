import { CancellationScope } from '@temporalio/workflow';

interface Compensation {
  resource: string;
  undo: () => Promise<void>;
}

/**
 * Compensations of a saga. Each is registered BEFORE the call that creates its resource (a call
 * that timed out may still have created it) and must be idempotent. They run in reverse order in
 * a non-cancellable scope, so a cancelled workflow still cleans up; a failed one is reported, not
 * swallowed, and the others still run.
 */
export class Saga {
  private readonly compensations: Compensation[] = [];

  add(resource: string, undo: () => Promise<void>): void {
    this.compensations.push({ resource, undo });
  }

  /** Runs every compensation; returns the resources that could not be removed, with why. */
  async compensate(): Promise<string[]> {
    const leftovers: string[] = [];
    await CancellationScope.nonCancellable(async () => {
      for (const { resource, undo } of [...this.compensations].reverse()) {
        try {
          await undo();
        } catch (error) {
          leftovers.push(`${resource}: ${messageOf(error)}`);
        }
      }
    });
    return leftovers;
  }
}

/** The innermost message of a Temporal failure chain: the AWS error, not "Activity task failed". */
export function messageOf(error: unknown): string {
  let current = error as { message?: string; cause?: unknown } | undefined;
  while (current?.cause && typeof current.cause === 'object') current = current.cause as typeof current;
  return current?.message ?? String(error);
}
