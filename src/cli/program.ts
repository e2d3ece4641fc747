/**
 * `solar-iot`: the operator's CLI, built on the library API (src/service) like the HTTP API.
 *
 * Exit codes: 0 ok, 1 failure (AWS, Temporal, a workflow, a conflict), 2 usage or configuration
 * error, 3 not found. `--json` prints results as JSON on stdout (errors as JSON on stderr).
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ConfigError, loadConfig } from '../config/index.js';
import { EncryptionKeyError, generateEncryptionKey } from '../crypto/encryption.js';
import { createDb, type DbHandle } from '../db/client.js';
import { IOT_STATUSES, type IotStatus } from '../db/schema.js';
import { createLogger } from '../logging/index.js';
import { InvalidInputError, SolarIotError } from '../service/errors.js';
import { type OpenedSolarIot, openSolarIot, requireDatabaseUrl } from '../service/open.js';
import type { OperationView } from '../service/operations.js';
import type { PlantListItem } from '../service/plants.js';
import type { ShadowState } from '../service/shadows.js';
import type { SolarIot } from '../service/solar-iot.js';
import { BACKFILL_WORKFLOW_ID } from '../workflows/backfill-contract.js';
import { type CliIo, EXIT } from './io.js';
import { keyValues, Output, plantDetails, table, truncate } from './output.js';
import { addQuarantineCommands } from './quarantine.js';
import { telemetryCommand } from './telemetry.js';

/** Steps of a provision, for the progress bar (the workflow reports them by name). */
const PROVISION_STEPS = 10;
const DEPROVISION_STEPS = 8;

function positiveInt(name: string, max: number) {
  return (value: string) => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < 1 || n > max)
      throw new InvalidArgumentError(`${name} must be a whole number from 1 to ${max}.`);
    return n;
  };
}

function nonNegativeInt(value: string) {
  if (!/^\d+$/.test(value))
    throw new InvalidArgumentError('must be a whole number (the shadow version you read).');
  return Number(value);
}

function qosOf(value: string): 0 | 1 {
  if (value !== '0' && value !== '1') throw new InvalidArgumentError('must be 0 or 1.');
  return Number(value) as 0 | 1;
}

/** `{"a":1}` as one argument, or `a=1 mode=auto` pairs (values parsed as JSON when they are). */
export function parseState(args: string[]): ShadowState {
  if (args.length === 1 && args[0]?.trim().startsWith('{')) {
    try {
      const parsed = JSON.parse(args[0]) as unknown;
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as ShadowState;
    } catch {
      // reported below
    }
    throw new InvalidInputError(`The state ${JSON.stringify(args[0])} is not a JSON object`);
  }
  const state: ShadowState = {};
  for (const pair of args) {
    const at = pair.indexOf('=');
    if (at < 1)
      throw new InvalidInputError(`Expected key=value or one JSON object, got ${JSON.stringify(pair)}`);
    const raw = pair.slice(at + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      // a plain string
    }
    state[pair.slice(0, at)] = value;
  }
  return state;
}

function parseParams(text: string | undefined): unknown {
  if (text === undefined) return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new InvalidInputError(`The command parameters ${JSON.stringify(text)} are not JSON`);
  }
}

export function exitCodeOf(error: unknown): number {
  if (error instanceof SolarIotError) {
    return error.kind === 'invalid' ? EXIT.usage : error.kind === 'not_found' ? EXIT.notFound : EXIT.failure;
  }
  if (error instanceof ConfigError || error instanceof EncryptionKeyError) {
    return EXIT.usage;
  }
  return EXIT.failure;
}

interface ListOptions {
  status?: IotStatus;
  limit: number;
  cursor?: string;
  all?: boolean;
  silent?: string;
}

export function buildProgram(
  io: CliIo,
  session: { open(): Promise<SolarIot>; database(): Promise<DbHandle['pool']> },
): { program: Command; output: () => Output; state: { exitCode: number } } {
  let output: Output | undefined;
  const state: { exitCode: number } = { exitCode: EXIT.ok };
  const program = new Command('solar-iot')
    .description('Plants and their AWS IoT identity: provision, inspect, shadows, commands, backfill')
    .option('--json', 'print results as JSON (for scripts)')
    .showHelpAfterError('(run with --help for usage)')
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

  function progressFor(kind: 'provision' | 'deprovision') {
    const bar = out().progress(kind === 'provision' ? PROVISION_STEPS : DEPROVISION_STEPS, kind);
    return {
      onProgress: (op: OperationView) => bar.update(op.stepsDone.length, op.currentStep ?? ''),
      stop: () => bar.stop(),
    };
  }

  const plants = program.command('plants').description('create, list, show and delete plants');

  plants
    .command('create')
    .description('create a plant and start provisioning its IoT identity')
    .argument('<name>', 'plant name')
    .option('--id <id>', 'your own plant id (default: a new UUID)')
    .option('--wait', 'wait until provisioning finished')
    .action(async (name: string, opts: { id?: string; wait?: boolean }) => {
      const iot = await session.open();
      const created = await iot.createPlant({ name, id: opts.id });
      if (!opts.wait || created.plant.iotStatus === 'disabled') {
        out().result(created, () =>
          created.plant.iotStatus === 'disabled'
            ? `Plant ${created.plant.id} created with IoT disabled (${iot.degradedReason}); run \`solar-iot backfill\` once IoT is on.`
            : `Plant ${created.plant.id} created; provisioning started (${created.operation?.workflowId}).\nFollow it with: solar-iot status ${created.plant.id}`,
        );
        return;
      }
      const bar = progressFor('provision');
      try {
        const done = await iot.provisionPlantIoT(created.plant.id, undefined, {
          wait: true,
          onProgress: bar.onProgress,
        });
        out().result(
          { ...done, plant: (await iot.getPlantIoTStatus(created.plant.id)).plant },
          () => `Plant ${created.plant.id} created and provisioned (thing ${done.resources?.thingName}).`,
        );
      } finally {
        bar.stop();
      }
    });

  plants
    .command('list')
    .description('list plants in id order')
    .addOption(
      new Option('--status <iotStatus>', 'only plants with this IoT status').choices([...IOT_STATUSES]),
    )
    .option('--limit <n>', 'plants per page (1 to 500)', positiveInt('--limit', 500), 50)
    .option('--cursor <id>', 'continue after this plant id (from the previous page)')
    .option('--all', 'follow every page')
    .option(
      '--silent <duration>',
      'only plants that sent nothing for this long (15m, 2h), never-sent included; active ones unless --status',
    )
    .action(async (opts: ListOptions) => {
      const iot = await session.open();
      const items: PlantListItem[] = [];
      let cursor = opts.cursor;
      let nextCursor: string | null = null;
      do {
        const page = await iot.listPlants({
          iotStatus: opts.status,
          limit: opts.limit,
          cursor,
          silentFor: opts.silent,
        });
        items.push(...page.items);
        nextCursor = page.nextCursor;
        cursor = nextCursor ?? undefined;
      } while (opts.all && nextCursor);
      out().result({ iotMode: iot.iotMode, items, nextCursor }, () => {
        const rendered = table(
          ['ID', 'NAME', 'IOT STATUS', 'THING', 'LAST ERROR', 'LAST READING'],
          items.map((p) => [
            p.id,
            p.name,
            p.iotStatus,
            p.thingName,
            truncate(p.lastError),
            p.lastReadingAt ?? 'never',
          ]),
        );
        const more = `--cursor ${nextCursor}${opts.silent ? ` --silent ${opts.silent}` : ''}`;
        const footer = nextCursor ? `\nMore: solar-iot plants list ${more}` : '';
        const what = opts.silent ? `silent plant(s) (nothing for ${opts.silent})` : 'plant(s)';
        return `${rendered}\n${items.length} ${what}${footer}`;
      });
    });

  const show = async (id: string) => {
    const iot = await session.open();
    const status = await iot.getPlantIoTStatus(id);
    out().result(status, () => {
      const { lastReadingAt, devices } = status.telemetry;
      const last = lastReadingAt ? `${lastReadingAt} (${devices.length} device(s))` : 'never';
      return `${plantDetails(status.plant, status.operation, status.iotMode)}\nLast reading: ${last}`;
    });
  };
  plants
    .command('show')
    .description('a plant with its IoT resources and latest operation')
    .argument('<id>')
    .action(show);
  program
    .command('status')
    .description("IoT status and the running operation's step of a plant")
    .argument('<id>')
    .action(show);

  const deprovision = async (id: string, opts: { wait?: boolean }) => {
    const iot = await session.open();
    if (!opts.wait) {
      const started = await iot.deprovisionPlantIoT(id);
      out().result(started, () =>
        started.workflowId
          ? `Deprovisioning of ${id} started (${started.workflowId}).`
          : `Plant ${id} marked deprovisioned (it had no IoT resources).`,
      );
      return;
    }
    const bar = progressFor('deprovision');
    try {
      const done = await iot.deprovisionPlantIoT(id, { wait: true, onProgress: bar.onProgress });
      out().result(
        done,
        () => `Plant ${id} deprovisioned${done.result ? `: removed ${done.result.removed.join(', ')}` : ''}.`,
      );
    } finally {
      bar.stop();
    }
  };
  plants
    .command('delete')
    .description("remove the plant's IoT identity (its record stays)")
    .argument('<id>')
    .option('--wait', 'wait until done')
    .action(deprovision);
  program
    .command('deprovision')
    .description("remove a plant's IoT identity")
    .argument('<id>')
    .option('--wait', 'wait until done')
    .action(deprovision);

  program
    .command('provision')
    .description('start (again) provisioning a plant, e.g. after a failure')
    .argument('<id>')
    .option('--name <name>', 'plant name, needed only for a plant not known yet')
    .option('--wait', 'wait until provisioning finished')
    .action(async (id: string, opts: { name?: string; wait?: boolean }) => {
      const iot = await session.open();
      if (!iot.isAwsIotEnabled()) {
        throw new SolarIotError(
          'iot_disabled',
          'conflict',
          `Cannot provision: AWS IoT is disabled (${iot.degradedReason})`,
        );
      }
      const bar = opts.wait ? progressFor('provision') : undefined;
      try {
        const outcome = await iot.provisionPlantIoT(
          id,
          opts.name,
          opts.wait ? { wait: true, onProgress: bar?.onProgress } : {},
        );
        out().result(outcome, () =>
          outcome.resources
            ? `Plant ${id} provisioned: thing ${outcome.resources.thingName}, certificate ${outcome.resources.certificateId}.`
            : `Provisioning of ${id} started (${outcome.workflowId}).`,
        );
      } finally {
        bar?.stop();
      }
    });

  const shadow = program.command('shadow').description("read and set a plant's thing shadow");
  shadow
    .command('get')
    .argument('<id>', 'plant id')
    .option('--name <shadow>', 'named shadow (default: the classic shadow)')
    .action(async (id: string, opts: { name?: string }) => {
      const iot = await session.open();
      const doc = await iot.getThingShadow(id, { shadowName: opts.name });
      out().result(doc, () =>
        [
          `${doc.thingName}${doc.shadowName ? ` / ${doc.shadowName}` : ''}  version ${doc.version}`,
          JSON.stringify(doc.state, null, 2),
        ].join('\n'),
      );
    });
  shadow
    .command('set')
    .description('merge a desired state: one JSON object, or key=value pairs (null removes a key)')
    .argument('<id>', 'plant id')
    .argument('<state...>', '\'{"powerLimit":1000}\' or powerLimit=1000 mode=auto')
    .option('--name <shadow>', 'named shadow')
    .option('--version <n>', 'apply only if the shadow is still at this version', nonNegativeInt)
    .action(async (id: string, state: string[], opts: { name?: string; version?: number }) => {
      const iot = await session.open();
      const doc = await iot.updateThingShadow(id, parseState(state), {
        shadowName: opts.name,
        version: opts.version,
      });
      out().result(
        doc,
        () => `Shadow of ${id}${doc.shadowName ? ` (${doc.shadowName})` : ''} now at version ${doc.version}.`,
      );
    });

  program
    .command('command')
    .description("send commands to a plant's devices")
    .command('send')
    .argument('<id>', 'plant id')
    .argument('<command>', 'command name, e.g. restart')
    .argument('[params]', 'JSON parameters, e.g. \'{"delaySeconds":5}\'')
    .option('--qos <qos>', 'MQTT QoS, 0 or 1', qosOf, 1 as 0 | 1)
    .action(async (id: string, command: string, params: string | undefined, opts: { qos: 0 | 1 }) => {
      const iot = await session.open();
      const sent = await iot.publishCommand(id, command, parseParams(params), { qos: opts.qos });
      out().result(sent, () => `Published ${command} to ${sent.topic} (commandId ${sent.commandId}).`);
    });

  program
    .command('backfill')
    .description('provision every plant without IoT resources (disabled, pending, failed) and follow the run')
    .option('--concurrency <n>', 'provisions at once (1 to 50)', positiveInt('--concurrency', 50))
    .option('--page-size <n>', 'plants per workflow run (1 to 1000)', positiveInt('--page-size', 1000))
    .option('--workflow-id <id>', 'a separate backfill run', BACKFILL_WORKFLOW_ID)
    .option('--no-wait', 'start it and return')
    .action(async (opts: { concurrency?: number; pageSize?: number; workflowId: string; wait: boolean }) => {
      const iot = await session.open();
      const started = await iot.startBackfill({
        workflowId: opts.workflowId,
        concurrency: opts.concurrency,
        pageSize: opts.pageSize,
      });
      if (!opts.wait) {
        out().result(
          started,
          () =>
            `Backfill ${started.workflowId} running; follow it with: solar-iot backfill --workflow-id ${started.workflowId}`,
        );
        return;
      }
      out().note(`Backfill ${started.workflowId} running (Ctrl-C stops following; the backfill goes on).`);
      const bar = out().progress(1, 'backfill');
      let result: Awaited<ReturnType<SolarIot['waitForBackfill']>>;
      try {
        result = await iot.waitForBackfill(started.workflowId, {
          onProgress: (p) => {
            const finished = p.done + p.failed + p.skipped;
            bar.update(
              finished,
              `done ${p.done} failed ${p.failed} skipped ${p.skipped}`,
              finished + p.remaining,
            );
          },
        });
      } finally {
        bar.stop();
      }
      out().result(result, () => {
        const summary = keyValues([
          ['provisioned', result.done],
          ['failed', result.failed],
          ['skipped (already running)', result.skipped],
          ['workflow runs', result.runs],
        ]);
        const failures = result.failures.length
          ? `\n${table(
              ['PLANT', 'REASON'],
              result.failures.map((f) => [f.plantId, truncate(f.reason, 100)]),
            )}`
          : '';
        return `${summary}${failures}`;
      });
      // The run went through, but scripts must notice plants that are still without IoT.
      if (result.failed > 0) state.exitCode = EXIT.failure;
    });

  telemetryCommand(program, io, session, out);
  addQuarantineCommands(program, { database: () => session.database(), out, env: io.env });

  program
    .command('keygen')
    .description('print a new random ENCRYPTION_KEY (64 hex characters)')
    .action(() => {
      const key = generateEncryptionKey();
      out().result({ key }, () => key);
    });

  return { program, output: out, state };
}

/** Runs the CLI; resolves with the exit code (the process entry exits with it). */
export async function run(argv: string[], io: CliIo): Promise<number> {
  let opened: Promise<OpenedSolarIot> | undefined;
  let database: DbHandle | undefined;
  const session = {
    /** PostgreSQL only (quarantine commands): no Temporal connection, no AWS. */
    async database() {
      database ??= createDb(requireDatabaseUrl(loadConfig(io.env)), {
        max: 2,
        applicationName: 'solar-iot-cli',
      });
      return database.pool;
    },
    async open(): Promise<SolarIot> {
      opened ??= (async () => {
        const config = loadConfig(io.env);
        // Warnings (mock mode, IoT disabled) go to stderr, never into --json output.
        const logger = createLogger({
          level: 'warn',
          pretty: false,
          destination: { write: (line: string) => io.stderr.write(line) },
        });
        return openSolarIot(config, { logger, env: io.env });
      })();
      return (await opened).solarIot;
    },
  };
  const { program, output, state } = buildProgram(io, session);
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
  } finally {
    if (opened) await (await opened.catch(() => undefined))?.close();
    await database?.close();
  }
}
