/**
 * How the rotation command lines (rotate.ts, schedule.ts) run: configuration from the environment,
 * a Temporal client opened when the command asks for it and closed after, exit status 2 for a
 * configuration error (the message names each wrong variable) and 1 for any other failure.
 */
import type { Client } from '@temporalio/client';
import { openTemporalClient } from '../app/clients.js';
import { loadTemporalToolConfig, type TemporalToolConfig } from '../app/config.js';
import { applyStackState } from '../app/stack-state.js';
import type { TemporalClientHandle } from '../codec/data-converter.js';
import { type Config, ConfigError } from '../config/index.js';

/** `load` reads the command's configuration (default: the shared variables and the payload keys). */
export async function runTemporalCommand<C extends TemporalToolConfig = TemporalToolConfig>(
  failure: string,
  body: (config: Config, connect: () => Promise<Client>, tool: C) => Promise<void>,
  load: () => C = loadTemporalToolConfig as () => C,
): Promise<void> {
  await applyStackState();
  try {
    const tool = load();
    const config = tool.core;
    let temporal: TemporalClientHandle | undefined;
    try {
      await body(
        config,
        async () => {
          temporal = await openTemporalClient(config, tool.codec);
          return temporal.client;
        },
        tool,
      );
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
