/**
 * `solar-iot setup temporal`: registers the search attributes, checks the quota queues' dynamic
 * config and brings the rotation schedule to ROTATION_SCHEDULE, on the cluster of TEMPORAL_ADDRESS
 * (src/setup/temporal.ts). Idempotent: run it at every deploy. Exit code: 0 all done and right,
 * 1 a step failed or a check found the cluster wrong (each line says what to fix), 2 configuration.
 */
import type { Command } from 'commander';
import { openTemporalClient } from '../app/clients.js';
import { loadRotationScheduleConfig } from '../app/config.js';
import { setupTemporal } from '../setup/temporal.js';
import type { CliContext } from './context.js';
import { table } from './output.js';

export function addSetupCommands(program: Command, { session, out, state }: CliContext): void {
  program
    .command('setup')
    .description('admin: prepare what the workers need')
    .command('temporal')
    .description(
      'admin: register the search attributes, check the quota queues have one partition, sync the rotation schedule (idempotent)',
    )
    .action(async () => {
      const tool = loadRotationScheduleConfig(session.env);
      const temporal = await openTemporalClient(tool.core, tool.codec);
      const bar = out().progress(1, 'setup temporal');
      try {
        const report = await setupTemporal(temporal.client, {
          namespace: tool.core.temporal.namespace,
          taskQueue: tool.core.temporal.taskQueue,
          rotation: tool.rotation,
          onStep: (step, index, total) => bar.update(index, step.what, total),
        });
        bar.stop();
        out().result(report, () => {
          const rows = report.steps.map((s) => [s.ok ? 'ok' : 'FAILED', s.what, s.detail]);
          const where = `${tool.core.temporal.address}, namespace ${tool.core.temporal.namespace}`;
          return `${table(['', 'STEP', 'DETAIL'], rows)}\n${report.ok ? `Temporal at ${where} is ready.` : `Temporal at ${where}: fix the FAILED steps and run again.`}`;
        });
        state.exitCode = report.ok ? 0 : 1;
      } finally {
        bar.stop();
        await temporal.close();
      }
    });
}
