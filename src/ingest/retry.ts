/** Waiting between attempts: the consumer's backoff policy, and the stop() a wait can be cut by. */

export interface RetryPolicy {
  initialMs: number;
  maxMs: number;
}

/**
 * The ceiling is also the longest the consumer can stay idle after the database is back (it holds
 * the batch and retries on this clock): with a 30 s ceiling, the first write after a PostgreSQL
 * crash restart (10 s down) comes 11.6 s after the database is ready again. One connection attempt per
 * 5 s is no load for a database that is coming up.
 */
export const DEFAULT_RETRY: RetryPolicy = { initialMs: 250, maxMs: 5_000 };

/** Exponential from `initialMs`, capped at `maxMs`, with jitter over the upper half. */
export function backoffMs(policy: RetryPolicy, failures: number): number {
  const ceiling = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(failures - 1, 20));
  return ceiling / 2 + (Math.random() * ceiling) / 2;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The consumer's stop() as its loops see it: whether it began, its deadline, and what it aborts. */
export class StopSignal {
  stopping = false;
  /** Until when stop() waits for the database (ms epoch); infinite before stop(). */
  deadline = Number.POSITIVE_INFINITY;
  /** Aborts the long polls in flight: what they would have returned stays in SQS. */
  readonly abort = new AbortController();
  private readonly stopped: Promise<void>;
  private resolveStopped: () => void = () => {};

  constructor() {
    this.stopped = new Promise((resolve) => {
      this.resolveStopped = resolve;
    });
  }

  trigger(deadline: number): void {
    this.stopping = true;
    this.deadline = deadline;
    this.abort.abort();
    this.resolveStopped();
  }

  /** A backoff that stop() cuts short (the caller re-checks the shutdown deadline). */
  async pause(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([new Promise<void>((resolve) => (timer = setTimeout(resolve, ms))), this.stopped]);
    clearTimeout(timer);
  }
}
