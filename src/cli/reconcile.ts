/**
 * `solar-iot reconcile [--remove]`: compares PostgreSQL with AWS IoT and reports drift; with
 * --remove, deletes the orphans our naming and stored records prove ours. An admin command: it
 * opens the database, the stored keys (ENCRYPTION_KEY), AWS and Temporal itself.
 *
 * Exit code: 0 no drift (after removal, with --remove), 1 drift remains, 2 bad configuration or
 * usage, 3 the check itself failed.
 */
import type { Command } from 'commander';
import { iotSettingsFrom } from '../activities/deps.js';
import { openAwsClients, openDatabase, openTemporalClient, openVault } from '../app/clients.js';
import { loadKeyToolConfig } from '../app/config.js';
import type { TemporalClientHandle } from '../codec/data-converter.js';
import type { Config } from '../config/index.js';
import { reconcileNow } from '../reconcile/index.js';
import type { DriftReport, ReconcileResult } from '../reconcile/types.js';
import type { CliContext } from './context.js';

/** The check failed (AWS, PostgreSQL or Temporal did not answer): not drift. */
const CHECK_FAILED = 3;

function describeReport(report: DriftReport, title: string): string[] {
  const s = report.scanned;
  const lines = [
    `${title} (${report.checkedAt}): ${s.plants} plants (${s.activePlants} active); ours in AWS: ${s.things} things, ` +
      `${s.certificates} certificates, ${s.policies} policies, ${s.rules} rules; ${s.storedKeys} stored keys`,
    `drift: ${report.drift}`,
  ];
  for (const o of report.orphans) {
    lines.push(
      `  orphan ${o.kind} ${o.name}${o.plantId ? ` (plant ${o.plantId}, ${o.plantStatus})` : ''}: ${o.reason}; ` +
        `${o.removable ? 'removable' : 'NOT removable'}: ${o.proof}`,
    );
  }
  for (const m of report.missing)
    lines.push(`  missing ${m.kind} ${m.name}${m.plantId ? ` of plant ${m.plantId}` : ''}: ${m.reason}`);
  for (const u of report.unattached) {
    lines.push(
      `  unattached certificate ${u.certificateId} of plant ${u.plantId}: not attached to ${u.from} ${u.name}`,
    );
  }
  if (report.inFlight.length) {
    lines.push(
      `not judged (operation running): ${report.inFlight.map((p) => `${p.plantId} (${p.reason})`).join(', ')}`,
    );
  }
  return lines;
}

export function formatResult(result: ReconcileResult, removeAsked: boolean): string {
  const lines = describeReport(result.report, 'reconciliation');
  if (!removeAsked) {
    const removable = result.report.orphans.filter((o) => o.removable).length;
    if (removable) lines.push(`run with --remove to delete the ${removable} orphan(s) proven ours`);
    return lines.join('\n');
  }
  lines.push(`removed: ${result.removed.length ? result.removed.join(', ') : 'nothing'}`);
  for (const s of result.skipped) lines.push(`  skipped plant ${s.plantId}: ${s.reason}`);
  for (const f of result.failed) lines.push(`  FAILED plant ${f.plantId}: ${f.reason}`);
  if (result.after) lines.push(...describeReport(result.after, 'after removal'));
  return lines.join('\n');
}

async function connectTemporal(
  config: Config,
  required: boolean,
  note: (text: string) => void,
): Promise<TemporalClientHandle | undefined> {
  try {
    return await openTemporalClient(config);
  } catch (error) {
    if (required)
      throw new Error(`--remove needs Temporal at ${config.temporal.address}: ${(error as Error).message}`);
    note(`note: Temporal unreachable (${(error as Error).message}); running operations not checked`);
    return undefined;
  }
}

export function addReconcileCommand(program: Command, { session, out, state }: CliContext): void {
  program
    .command('reconcile')
    .description(
      'admin: compare PostgreSQL with AWS IoT and report drift (exit 0 none, 1 drift, 3 check failed)',
    )
    .option(
      '--remove',
      'delete the orphans proven ours (naming AND stored records or keys), then report again',
    )
    .action(async (opts: { remove?: boolean }) => {
      const remove = Boolean(opts.remove);
      const tool = loadKeyToolConfig(
        {
          databaseUrl:
            'DATABASE_URL: not set. Fix: set it to the postgres:// URL the worker uses, or run `npm start`',
          encryptionKey: 'ENCRYPTION_KEY: not set. Fix: use the key the worker uses, or run `npm start`',
        },
        session.env,
      );
      const config = tool.core;
      const aws = openAwsClients(config, session.aws);
      const database = openDatabase(tool.databaseUrl, { applicationName: 'solar-iot-reconcile' });
      let temporal: TemporalClientHandle | undefined;
      try {
        temporal = await connectTemporal(config, remove, (t) => out().note(t));
        out().note('scanning PostgreSQL and AWS IoT...');
        const result = await reconcileNow(
          {
            iot: aws.iot,
            db: database.db,
            vault: openVault(config, tool.encryptionKey),
            temporal: temporal?.client,
            settings: iotSettingsFrom(config),
          },
          { remove },
        );
        out().result(result, () => formatResult(result, remove));
        state.exitCode = (result.after ?? result.report).drift === 0 ? 0 : 1;
      } catch (error) {
        out().error('reconcile_failed', `reconciliation failed: ${(error as Error).message}`);
        state.exitCode = CHECK_FAILED;
      } finally {
        await temporal?.close();
        await database.close();
        aws.destroy();
      }
    });
}
