/**
 * What every command group receives to register its commands: where it reads its data (the
 * session), where it writes (out), and the exit code of a command that ran but must report a
 * failure. The plant and quarantine commands talk to the HTTP API through `session.open()`
 * (src/api-client); the admin commands open what they need from `session.env`.
 */
import { InvalidArgumentError } from 'commander';
import type { ApiClient } from '../api-client/client.js';
import type { AwsClientsOptions } from '../iot/clients.js';
import type { CliIo } from './io.js';
import type { Output } from './output.js';

export interface CliSession {
  /** The environment the commands read (with what `npm start` left: src/app/stack-state.ts). */
  readonly env: Record<string, string | undefined>;
  /** Options of the AWS clients the admin commands open: an interceptor in tests, else nothing. */
  readonly aws: AwsClientsOptions;
  /** The HTTP API's client (SOLAR_IOT_API_URL, SOLAR_IOT_API_TOKEN[_FILE]), made on first use. */
  open(): Promise<ApiClient>;
}

export interface CliContext {
  io: CliIo;
  session: CliSession;
  /** Human or JSON output, as chosen by --json on the command that runs. */
  out(): Output;
  /** The process exit code when no error was thrown. */
  state: { exitCode: number };
}

/** Commander parser for a whole number from 1 to `max`, named in the message as `name`. */
export function positiveInt(name: string, max: number) {
  return (value: string) => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < 1 || n > max)
      throw new InvalidArgumentError(`${name} must be a whole number from 1 to ${max}.`);
    return n;
  };
}
