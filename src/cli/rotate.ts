/**
 * `solar-iot rotate <plantId> [--grace-period 7d] [--wait]`: starts rotating a plant's certificate
 * (or attaches to the rotation already running) and prints its workflow id. An admin command: it
 * starts the workflow on Temporal itself, with the payload codec keys (TEMPORAL_CODEC_KEYS).
 * Exit code: 0, 1 (Temporal, the rotation), 2 (configuration, usage).
 */
import type { Duration } from '@temporalio/common';
import type { Command } from 'commander';
import { openTemporalClient } from '../app/clients.js';
import { loadTemporalToolConfig } from '../app/config.js';
import { startRotation } from '../rotation/client.js';
import type { CliContext } from './context.js';

export function addRotateCommand(program: Command, { session, out }: CliContext): void {
  program
    .command('rotate')
    .description("admin: rotate a plant's certificate; old and new both work for the grace period")
    .argument('<plantId>')
    .option('--grace-period <duration>', 'how long the old certificate keeps working (default 7d)')
    .option('--wait', 'wait until the rotation finished (the whole grace period)')
    .action(async (plantId: string, opts: { gracePeriod?: string; wait?: boolean }) => {
      const tool = loadTemporalToolConfig(session.env);
      const temporal = await openTemporalClient(tool.core, tool.codec);
      try {
        const handle = await startRotation(
          temporal.client,
          { plantId, ...(opts.gracePeriod ? { gracePeriod: opts.gracePeriod as Duration } : {}) },
          { taskQueue: tool.core.temporal.taskQueue },
        );
        const started = { workflowId: handle.workflowId, runId: handle.firstExecutionRunId };
        if (!opts.wait) {
          out().result(started, () => `rotation ${started.workflowId} running (run ${started.runId})`);
          return;
        }
        out().note(
          `rotation ${started.workflowId} running; waiting for its grace period to end (Ctrl-C stops waiting)`,
        );
        const result = await handle.result();
        out().result(
          { ...started, ...result },
          () => `rotated: ${result.previousCertificateId} -> ${result.certificateId}`,
        );
      } finally {
        await temporal.close();
      }
    });
}
