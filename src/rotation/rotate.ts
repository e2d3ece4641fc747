/**
 * `tsx src/rotation/rotate.ts <plantId> [--grace-period 7d] [--wait]`: starts rotating a plant's
 * certificate (or attaches to the rotation already running) and prints its workflow id.
 */
import { fileURLToPath } from 'node:url';
import type { Duration } from '@temporalio/common';
import { createTemporalClient } from '../codec/data-converter.js';
import { ConfigError, loadConfig } from '../config/index.js';
import { startRotation } from './client.js';

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const plantId = args.find((a, i) => !a.startsWith('--') && args[i - 1] !== '--grace-period');
  const graceIndex = args.indexOf('--grace-period');
  const gracePeriod = graceIndex >= 0 ? (args[graceIndex + 1] as Duration | undefined) : undefined;
  if (!plantId || (graceIndex >= 0 && !gracePeriod)) {
    console.error('usage: rotate <plantId> [--grace-period 7d] [--wait]');
    process.exit(2);
  }
  try {
    const config = loadConfig();
    const temporal = await createTemporalClient(config);
    try {
      const handle = await startRotation(
        temporal.client,
        { plantId, ...(gracePeriod ? { gracePeriod } : {}) },
        { taskQueue: config.temporal.taskQueue },
      );
      console.log(`rotation ${handle.workflowId} running (run ${handle.firstExecutionRunId})`);
      if (args.includes('--wait')) {
        const result = await handle.result();
        console.log(`rotated: ${result.previousCertificateId} -> ${result.certificateId}`);
      }
    } finally {
      await temporal.close();
    }
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(2);
    }
    console.error(`rotate failed: ${(error as Error).message}`);
    process.exit(1);
  }
}
