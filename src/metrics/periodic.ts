/**
 * A task run at start and then every `everyMs` (the partition maintainer, the gauges counted from PostgreSQL):
 * never two runs at once, the timer keeps no process alive, and stop() waits for a run in progress.
 * The task handles its own errors (logs them): the next run is the retry.
 */
export interface Periodic {
  /** Waits for a run in progress, then stops the timer. */
  stop(): Promise<void>;
}

export function startPeriodic(everyMs: number, task: () => Promise<void>): Periodic {
  let running: Promise<void> | undefined;
  const run = () => {
    running ??= task().finally(() => {
      running = undefined;
    });
  };
  run();
  const timer = setInterval(run, everyMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
