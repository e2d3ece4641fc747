/**
 * `solar-iot backfill`: provision every plant without IoT resources in one durable workflow run,
 * and follow it with a progress bar unless --no-wait.
 */
import type { Command } from 'commander';
import type { ApiClient } from '../api-client/client.js';
import { BACKFILL_WORKFLOW_ID } from '../workflows/backfill-contract.js';
import { type CliContext, positiveInt } from './context.js';
import { EXIT } from './io.js';
import { keyValues, table, truncate } from './output.js';

type BackfillResult = Awaited<ReturnType<ApiClient['waitForBackfill']>>;

export function addBackfillCommand(program: Command, ctx: CliContext): void {
  const { session, out } = ctx;
  program
    .command('backfill')
    .description('provision every plant without IoT resources (disabled, pending, failed) and follow the run')
    .option('--concurrency <n>', 'provisions at once (1 to 50)', positiveInt('--concurrency', 50))
    .option('--page-size <n>', 'plants per workflow run (1 to 1000)', positiveInt('--page-size', 1000))
    .option('--workflow-id <id>', 'a separate backfill run', BACKFILL_WORKFLOW_ID)
    .option('--no-wait', 'start it and return')
    .action(async (opts: { concurrency?: number; pageSize?: number; workflowId: string; wait: boolean }) => {
      const iot = await session.open();
      const started = await iot.startBackfill({
        workflowId: opts.workflowId,
        concurrency: opts.concurrency,
        pageSize: opts.pageSize,
      });
      if (!opts.wait) {
        out().result(
          started,
          () =>
            `Backfill ${started.workflowId} running; follow it with: solar-iot backfill --workflow-id ${started.workflowId}`,
        );
        return;
      }
      const result = await follow(ctx, iot, started.workflowId);
      out().result(result, () => summary(result));
      // The run went through, but scripts must notice plants that are still without IoT.
      if (result.failed > 0) ctx.state.exitCode = EXIT.failure;
    });
}

async function follow({ out }: CliContext, iot: ApiClient, workflowId: string): Promise<BackfillResult> {
  out().note(`Backfill ${workflowId} running (Ctrl-C stops following; the backfill goes on).`);
  const bar = out().progress(1, 'backfill');
  try {
    return await iot.waitForBackfill(workflowId, {
      onProgress: (p) => {
        const finished = p.done + p.failed + p.skipped;
        bar.update(
          finished,
          `done ${p.done} failed ${p.failed} skipped ${p.skipped}`,
          finished + p.remaining,
        );
      },
    });
  } finally {
    bar.stop();
  }
}

function summary(result: BackfillResult): string {
  const counts = keyValues([
    ['provisioned', result.done],
    ['failed', result.failed],
    ['skipped (already running)', result.skipped],
    ['workflow runs', result.runs],
  ]);
  const failures = result.failures.length
    ? `\n${table(
        ['PLANT', 'REASON'],
        result.failures.map((f) => [f.plantId, truncate(f.reason, 100)]),
      )}`
    : '';
  return `${counts}${failures}`;
}
