import { CancellationScope, CancelledFailure } from '@temporalio/workflow';

/**
 * Whether this workflow was asked to cancel while a step was failing. A cancel that reaches a
 * step during a failing attempt ends the step with that attempt's own error (retry state
 * CANCEL_REQUESTED), not with a CancelledFailure; it is still a cancellation, and the workflow
 * must end as cancelled, not as "failed: <that error>". Call it only when the error is not a
 * cancellation already.
 */
export function cancelRequestedMeanwhile(): boolean {
  return CancellationScope.current().consideredCancelled;
}

/** What a workflow throws to end as cancelled: the workflow completes CANCELED with this message. */
export function cancelledFailure(message: string): CancelledFailure {
  return new CancelledFailure(message);
}
