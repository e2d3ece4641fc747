/**
 * Spacing of one quota queue's activity starts inside one worker process.
 *
 * The Temporal server bounds the whole fleet (maxTaskQueueActivitiesPerSecond), but it releases
 * up to ceil(rate) tasks at once from a full bucket, and a busy worker's event loop turns small
 * gaps between tasks into none: calls then reach AWS in clumps that its own bucket (one second
 * of quota) refuses, most often at a small quota (2/s, 3/s). This gate lets the next activity
 * start only `1 / rate` seconds after the previous one started, measured when it starts (a timer
 * that fires late makes up at most half an interval), so a stalled process does not release its
 * overdue starts together afterwards.
 *
 * A fleet of N processes: each paces itself at the fleet rate and the server keeps the sum under
 * it, so at most N calls of one class can coincide (and never more than the server's burst).
 */
import type { ActivityInterceptorsFactory } from '@temporalio/worker';

export class StartPacer {
  private readonly intervalMs: number;
  private last = Number.NEGATIVE_INFINITY;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    ratePerSecond: number,
    private readonly now: () => number = () => performance.now(),
    private readonly sleep: (ms: number) => Promise<void> = (ms) =>
      new Promise((resolve) => setTimeout(resolve, ms)),
  ) {
    if (!(ratePerSecond > 0)) throw new RangeError('ratePerSecond must be > 0');
    this.intervalMs = 1000 / ratePerSecond;
  }

  /** Resolves when the caller may start: at least one interval after the previous start. */
  turn(): Promise<void> {
    const mine = this.queue.then(async () => {
      const due = this.last + this.intervalMs;
      const wait = due - this.now();
      if (wait <= 0) {
        this.last = this.now();
        return;
      }
      await this.sleep(wait);
      // A timer that fired late may make up at most half an interval, never more: the average
      // stays at the rate and two starts are never closer than half an interval.
      this.last = Math.max(due, this.now() - this.intervalMs / 2);
    });
    this.queue = mine;
    return mine;
  }

  /** An activity interceptor that waits for a turn before each activity of the worker runs. */
  interceptor(): ActivityInterceptorsFactory {
    return () => ({
      inbound: {
        execute: async (input, next) => {
          await this.turn();
          return next(input);
        },
      },
    });
  }
}
