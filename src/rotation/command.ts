/**
 * How the rotation command lines (rotate.ts, schedule.ts) run: configuration from the environment,
 * a Temporal client opened when the command asks for it and closed after, exit status 2 for a
 * configuration error (the message names each wrong variable) and 1 for any other failure.
 */
import type { Client } from '@temporalio/client';
import { createTemporalClient, type TemporalClientHandle } from '../codec/data-converter.js';
import { type Config, ConfigError, loadConfig } from '../config/index.js';

export async function runTemporalCommand(
  failure: string,
  body: (config: Config, connect: () => Promise<Client>) => Promise<void>,
): Promise<void> {
  try {
    const config = loadConfig();
    let temporal: TemporalClientHandle | undefined;
    try {
      await body(config, async () => {
        temporal = await createTemporalClient(config);
        return temporal.client;
      });
    } finally {
      await temporal?.close();
    }
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(2);
    }
    console.error(`${failure}: ${(error as Error).message}`);
    process.exit(1);
  }
}
