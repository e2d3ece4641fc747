/**
 * What the CLI's commands run on, opened on first use so a command opens only what it needs and
 * `--help` or a usage error opens nothing: the service (PostgreSQL, Temporal, AWS), PostgreSQL
 * alone (quarantine), and the consumer's validation settings (quarantine replay).
 */
import type { CliSession } from '../cli/context.js';
import type { DbHandle } from '../db/client.js';
import type { IngestSettings } from '../ingest/settings.js';
import type { Logger } from '../logging/index.js';
import type { SolarIot } from '../service/solar-iot.js';
import { openDatabase } from './clients.js';
import { loadCliConfig, loadCliDatabaseConfig, loadQuarantineReplayConfig } from './config.js';
import { type OpenedSolarIot, openSolarIot } from './service.js';

export interface CliRuntime extends CliSession {
  /** Closes whatever was opened. */
  close(): Promise<void>;
}

export function openCliRuntime(env: Record<string, string | undefined>, logger: Logger): CliRuntime {
  let opened: Promise<OpenedSolarIot> | undefined;
  let database: DbHandle | undefined;
  return {
    async database() {
      database ??= openDatabase(loadCliDatabaseConfig(env).databaseUrl, {
        max: 2,
        applicationName: 'solar-iot-cli',
      });
      return database.pool;
    },
    async open(): Promise<SolarIot> {
      opened ??= (async () => {
        const { core, certificates } = loadCliConfig(env);
        return openSolarIot(core, { logger, env, certificateMaxAgeDays: certificates.maxAgeDays });
      })();
      return (await opened).solarIot;
    },
    ingestSettings(): IngestSettings {
      return loadQuarantineReplayConfig(env).ingest;
    },
    async close() {
      if (opened) await (await opened.catch(() => undefined))?.close();
      await database?.close();
    },
  };
}
