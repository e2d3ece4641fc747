/**
 * `solar-iot`: the operator's CLI. The plant commands go through the HTTP API (src/api-client), so
 * they need neither the key of the stored device keys nor database access; the admin commands
 * (reconcile, rotate, export-credentials, reencrypt-keys, setup) open what they must themselves.
 *
 * Exit codes: 0 ok, 1 failure (AWS, Temporal, a workflow, a conflict), 2 usage or configuration
 * error, 3 not found. `--json` prints results as JSON on stdout (errors as JSON on stderr).
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { openCliRuntime } from '../app/cli.js';
import { ConfigError } from '../config/index.js';
import { EncryptionKeyError } from '../crypto/encryption.js';
import type { AwsClientsOptions } from '../iot/clients.js';
import { SolarIotError } from '../service/errors.js';
import { addBackfillCommand } from './backfill.js';
import { addCertificateCommands } from './certificates.js';
import type { CliContext, CliSession } from './context.js';
import { addDeadLetterCommand } from './dead-letters.js';
import { addCsrCommand } from './device-csr.js';
import { addDeviceCommandCommands, addShadowCommands } from './devices.js';
import { type CliIo, EXIT } from './io.js';
import { addKeygenCommand } from './keygen.js';
import { Output } from './output.js';
import { addPlantCommands } from './plants.js';
import { addQuarantineCommands } from './quarantine.js';
import { addReconcileCommand } from './reconcile.js';
import { addRotateCommand } from './rotate.js';
import { addSetupCommands } from './setup.js';
import { addStoredKeyCommands } from './stored-keys.js';
import { telemetryCommand } from './telemetry.js';

const VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

export function exitCodeOf(error: unknown): number {
  if (error instanceof SolarIotError) {
    return error.kind === 'invalid' ? EXIT.usage : error.kind === 'not_found' ? EXIT.notFound : EXIT.failure;
  }
  if (error instanceof ConfigError || error instanceof EncryptionKeyError) {
    return EXIT.usage;
  }
  return EXIT.failure;
}

/** The root command with its global options; each command group registers itself on it. */
export function buildProgram(
  io: CliIo,
  session: CliSession,
): { program: Command; output: () => Output; state: { exitCode: number } } {
  let output: Output | undefined;
  const state: { exitCode: number } = { exitCode: EXIT.ok };
  const program = new Command('solar-iot')
    .description('Plants and their AWS IoT identity: provision, inspect, shadows, commands, backfill')
    .option('--json', 'print results as JSON (for scripts)')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', '\nsolar-iot --version (or -V) prints the version.')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    })
    .hook('preAction', (_root, action) => {
      output = new Output(io, Boolean(action.optsWithGlobals().json));
    });
  const out = () => {
    output ??= new Output(io, false);
    return output;
  };
  const ctx: CliContext = { io, session, out, state };

  // Registration order is the order `--help` lists the commands in.
  addPlantCommands(program, ctx);
  addCsrCommand(program, ctx);
  addShadowCommands(program, ctx);
  addDeviceCommandCommands(program, ctx);
  addBackfillCommand(program, ctx);
  addCertificateCommands(program, ctx);
  telemetryCommand(program, io, session, out);
  addDeadLetterCommand(program, ctx);
  addQuarantineCommands(program, ctx);
  addKeygenCommand(program, ctx);
  // Admin commands: they open keys, the database, AWS or Temporal themselves.
  addReconcileCommand(program, ctx);
  addRotateCommand(program, ctx);
  addStoredKeyCommands(program, ctx);
  addSetupCommands(program, ctx);

  return { program, output: out, state };
}

/**
 * Runs the CLI; resolves with the exit code (the process entry exits with it). `options.aws` is
 * for tests (test/iam records the AWS calls of the admin commands); production passes nothing.
 */
export async function run(
  argv: string[],
  io: CliIo,
  options: { aws?: AwsClientsOptions } = {},
): Promise<number> {
  // Not commander's .version(): its root --version would take `shadow set --version <n>`.
  if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) {
    io.stdout.write(`${VERSION}\n`);
    return EXIT.ok;
  }
  // The session warns once a command opens the API, after `built` exists.
  const session = openCliRuntime(io.env, options.aws, (code, message) => built.output().warn(code, message));
  const built = buildProgram(io, session);
  const { program, output, state } = built;
  try {
    await program.parseAsync(argv, { from: 'user' });
    return state.exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and --version end here too, successfully; commander has printed its message.
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    const code =
      error instanceof SolarIotError
        ? error.code
        : error instanceof ConfigError
          ? 'configuration_error'
          : 'error';
    const message = error instanceof Error ? error.message : String(error);
    output().error(code, message);
    return exitCodeOf(error);
  }
}
