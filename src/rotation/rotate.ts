/**
 * `tsx src/rotation/rotate.ts <plantId> [--grace-period 7d] [--wait]`: starts rotating a plant's
 * certificate (or attaches to the rotation already running) and prints its workflow id.
 */
import { fileURLToPath } from 'node:url';
import type { Duration } from '@temporalio/common';
import { startRotation } from './client.js';
import { runTemporalCommand } from './command.js';

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const plantId = args.find((a, i) => !a.startsWith('--') && args[i - 1] !== '--grace-period');
  const graceIndex = args.indexOf('--grace-period');
  const gracePeriod = graceIndex >= 0 ? (args[graceIndex + 1] as Duration | undefined) : undefined;
  if (!plantId || (graceIndex >= 0 && !gracePeriod)) {
    console.error('usage: rotate <plantId> [--grace-period 7d] [--wait]');
    process.exit(2);
  }
  await runTemporalCommand('rotate failed', async (config, connect) => {
    const handle = await startRotation(
      await connect(),
      { plantId, ...(gracePeriod ? { gracePeriod } : {}) },
      { taskQueue: config.temporal.taskQueue },
    );
    console.log(`rotation ${handle.workflowId} running (run ${handle.firstExecutionRunId})`);
    if (args.includes('--wait')) {
      const result = await handle.result();
      console.log(`rotated: ${result.previousCertificateId} -> ${result.certificateId}`);
    }
  });
}
