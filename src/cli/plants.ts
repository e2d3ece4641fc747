/**
 * `solar-iot plants create | list | show | delete`, with the top-level `status`, `provision` and
 * `deprovision`: a plant's record and the lifecycle of its IoT identity.
 */
import { type Command, Option } from 'commander';
import type { ApiClient } from '../api-client/client.js';
import type { IotMode } from '../config/types.js';
import { IOT_STATUSES, type IotStatus } from '../db/schema.js';
import type { OperationView } from '../service/operations.js';
import type { PlantListItem } from '../service/plants.js';
import { type CliContext, positiveInt } from './context.js';
import {
  awaitingCsrHint,
  CSR_TIMEOUT_OPTION,
  certificateChoiceOf,
  DEVICE_CSR_OPTION,
  type DeviceCsrOptions,
} from './device-csr.js';
import { plantDetails, table, truncate } from './output.js';

/** Steps of a provision, for the progress bar (the workflow reports them by name). */
const PROVISION_STEPS = 10;
const DEPROVISION_STEPS = 8;

interface ListOptions {
  status?: IotStatus;
  limit: number;
  cursor?: string;
  all?: boolean;
  silent?: string;
}

function progressFor({ out }: CliContext, kind: 'provision' | 'deprovision') {
  const bar = out().progress(kind === 'provision' ? PROVISION_STEPS : DEPROVISION_STEPS, kind);
  return {
    onProgress: (op: OperationView) => bar.update(op.stepsDone.length, op.currentStep ?? ''),
    stop: () => bar.stop(),
  };
}

export function addPlantCommands(program: Command, ctx: CliContext): void {
  const plants = program.command('plants').description('create, list, show and delete plants');
  addCreate(plants, ctx);
  addList(plants, ctx);

  const show = (id: string) => showPlant(ctx, id);
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

  const deprovision = (id: string, opts: { wait?: boolean }) => deprovisionPlant(ctx, id, opts);
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

  addProvision(program, ctx);
}

function addCreate(plants: Command, ctx: CliContext): void {
  const { session, out } = ctx;
  plants
    .command('create')
    .description('create a plant and start provisioning its IoT identity')
    .argument('<name>', 'plant name')
    .option('--id <id>', 'your own plant id (default: a new UUID)')
    .option('--wait', 'wait until provisioning finished')
    .option(...DEVICE_CSR_OPTION)
    .option(...CSR_TIMEOUT_OPTION)
    .action(async (name: string, opts: { id?: string; wait?: boolean } & DeviceCsrOptions) => {
      const iot = await session.open();
      const created = await iot.createPlant({ name, id: opts.id, ...certificateChoiceOf(opts) });
      if (!opts.wait || created.plant.iotStatus === 'disabled') {
        out().result(created, () =>
          created.plant.iotStatus === 'disabled'
            ? `Plant ${created.plant.id} created with IoT disabled; run \`solar-iot backfill\` once IoT is on.`
            : `Plant ${created.plant.id} created; provisioning started (${created.operation?.workflowId}).\nFollow it with: solar-iot status ${created.plant.id}${awaitingCsrHint(created.plant.id, opts)}`,
        );
        return;
      }
      const bar = progressFor(ctx, 'provision');
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
}

function addList(plants: Command, { session, out }: CliContext): void {
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
      const { iotMode, items, nextCursor } = await listPages(iot, opts);
      out().result({ iotMode, items, nextCursor }, () => {
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
}

/** One page, or with --all every page from --cursor on. */
async function listPages(iot: ApiClient, opts: ListOptions) {
  const items: PlantListItem[] = [];
  let cursor = opts.cursor;
  let nextCursor: string | null = null;
  let iotMode: IotMode = 'aws';
  do {
    const page = await iot.listPlants({
      iotStatus: opts.status,
      limit: opts.limit,
      cursor,
      silentFor: opts.silent,
    });
    items.push(...page.items);
    iotMode = page.iotMode;
    nextCursor = page.nextCursor;
    cursor = nextCursor ?? undefined;
  } while (opts.all && nextCursor);
  return { iotMode, items, nextCursor };
}

async function showPlant({ session, out }: CliContext, id: string): Promise<void> {
  const iot = await session.open();
  const status = await iot.getPlantIoTStatus(id);
  out().result(status, () => {
    const { lastReadingAt, devices } = status.telemetry;
    const last = lastReadingAt ? `${lastReadingAt} (${devices.length} device(s))` : 'never';
    return `${plantDetails(status.plant, status.operation, status.iotMode)}\nLast reading: ${last}`;
  });
}

async function deprovisionPlant(ctx: CliContext, id: string, opts: { wait?: boolean }): Promise<void> {
  const { session, out } = ctx;
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
  const bar = progressFor(ctx, 'deprovision');
  try {
    const done = await iot.deprovisionPlantIoT(id, { wait: true, onProgress: bar.onProgress });
    const removed = done.result?.removed ?? [];
    out().result(
      done,
      () => `Plant ${id} deprovisioned${removed.length ? `: removed ${removed.join(', ')}` : ''}.`,
    );
  } finally {
    bar.stop();
  }
}

function addProvision(program: Command, ctx: CliContext): void {
  const { session, out } = ctx;
  program
    .command('provision')
    .description('start (again) provisioning a plant, e.g. after a failure')
    .argument('<id>')
    .option('--name <name>', 'plant name, needed only for a plant not known yet')
    .option('--wait', 'wait until provisioning finished')
    .option(...DEVICE_CSR_OPTION)
    .option(...CSR_TIMEOUT_OPTION)
    .action(async (id: string, opts: { name?: string; wait?: boolean } & DeviceCsrOptions) => {
      // With IoT disabled the API answers 409 iot_disabled, naming why.
      const iot = await session.open();
      const bar = opts.wait ? progressFor(ctx, 'provision') : undefined;
      try {
        const outcome = await iot.provisionPlantIoT(id, opts.name, {
          ...certificateChoiceOf(opts),
          ...(opts.wait ? { wait: true, onProgress: bar?.onProgress } : {}),
        });
        out().result(outcome, () =>
          outcome.resources
            ? `Plant ${id} provisioned: thing ${outcome.resources.thingName}, certificate ${outcome.resources.certificateId}.`
            : `Provisioning of ${id} started (${outcome.workflowId}).${awaitingCsrHint(id, opts)}`,
        );
      } finally {
        bar?.stop();
      }
    });
}
