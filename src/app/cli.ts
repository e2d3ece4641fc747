/**
 * What the CLI's commands run on, opened on first use so a command opens only what it needs and
 * `--help` or a usage error opens nothing: the HTTP API (plants, shadows, commands, backfill,
 * telemetry, certificates, quarantine: no key, no database). The admin commands open their own
 * clients from `env` (src/cli/admin).
 */
import { type ApiClient, createApiClient } from '../api-client/client.js';
import { readApiClientSettings } from '../api-client/settings.js';
import type { CliSession } from '../cli/context.js';
import type { AwsClientsOptions } from '../iot/clients.js';

export function openCliRuntime(
  env: Record<string, string | undefined>,
  aws: AwsClientsOptions = {},
  warn: (code: string, message: string) => void = () => undefined,
): CliSession {
  let api: ApiClient | undefined;
  return {
    env,
    aws,
    async open(): Promise<ApiClient> {
      if (!api) {
        const settings = await readApiClientSettings(env);
        if (settings.warning) warn('token_over_plain_http', settings.warning);
        api = createApiClient(settings);
      }
      return api;
    },
  };
}
