/**
 * What the CLI's commands run on, opened on first use so a command opens only what it needs and
 * `--help` or a usage error opens nothing: the HTTP API (plants, shadows, commands, backfill,
 * telemetry, certificates: no key, no database), PostgreSQL alone (quarantine), and the
 * consumer's validation settings (quarantine replay). The admin commands open their own clients
 * from `env` (src/cli/admin).
 */
import { type ApiClient, createApiClient } from '../api-client/client.js';
import { readApiClientSettings } from '../api-client/settings.js';
import type { CliSession } from '../cli/context.js';
import type { DbHandle } from '../db/client.js';
import type { IngestSettings } from '../ingest/settings.js';
import type { AwsClientsOptions } from '../iot/clients.js';
import { openDatabase } from './clients.js';
import { loadCliDatabaseConfig, loadQuarantineReplayConfig } from './config.js';

export interface CliRuntime extends CliSession {
  /** Closes whatever was opened. */
  close(): Promise<void>;
}

export function openCliRuntime(
  env: Record<string, string | undefined>,
  aws: AwsClientsOptions = {},
  warn: (code: string, message: string) => void = () => undefined,
): CliRuntime {
  let api: ApiClient | undefined;
  let database: DbHandle | undefined;
  return {
    env,
    aws,
    async database() {
      database ??= openDatabase(loadCliDatabaseConfig(env).databaseUrl, {
        max: 2,
        applicationName: 'solar-iot-cli',
      });
      return database.pool;
    },
    async open(): Promise<ApiClient> {
      if (!api) {
        const settings = await readApiClientSettings(env);
        if (settings.warning) warn('token_over_plain_http', settings.warning);
        api = createApiClient(settings);
      }
      return api;
    },
    ingestSettings(): IngestSettings {
      return loadQuarantineReplayConfig(env).ingest;
    },
    async close() {
      await database?.close();
    },
  };
}
