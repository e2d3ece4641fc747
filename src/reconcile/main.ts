/**
 * `tsx src/reconcile/main.ts [--remove] [--json]`: compares PostgreSQL with AWS IoT and reports
 * drift; with --remove, deletes the orphans our naming and stored records prove ours.
 *
 * Environment: as the worker (DATABASE_URL, ENCRYPTION_KEY, AWS_*, TEMPORAL_*; see src/config).
 * Temporal is asked whether an operation runs on a plant with drift; --remove requires it.
 * Exit code: 0 no drift (after removal, with --remove), 1 drift remains, 2 bad configuration or
 * usage, 3 the check itself failed.
 */
import { fileURLToPath } from 'node:url';
import { iotSettingsFrom } from '../activities/deps.js';
import { openAwsClients, openDatabase, openTemporalClient, openVault } from '../app/clients.js';
import { type KeyToolConfig, loadKeyToolConfig } from '../app/config.js';
import { applyStackState } from '../app/stack-state.js';
import type { TemporalClientHandle } from '../codec/data-converter.js';
import { type Config, ConfigError, type Env } from '../config/index.js';
import type { AwsClientsOptions } from '../iot/clients.js';
import { reconcileNow } from './index.js';
import type { DriftReport, ReconcileResult } from './types.js';

const USAGE = `Usage: tsx src/reconcile/main.ts [--remove] [--json]

Compares PostgreSQL (plants, certificates) with AWS IoT (things, certificates, policies, topic
rules under solar-iot naming) and reports drift. Nothing is changed unless --remove is given.

  --remove   delete orphans proven ours (naming AND stored records or keys), then report again
  --json     print the result as JSON
  --help     this text

Exit code: 0 no drift, 1 drift, 2 bad configuration or usage, 3 the check failed.`;

export interface CliOptions {
  remove: boolean;
  json: boolean;
}

export function parseArgs(argv: string[]): CliOptions | 'help' {
  const options: CliOptions = { remove: false, json: false };
  for (const arg of argv) {
    if (arg === '--remove') options.remove = true;
    else if (arg === '--json') options.json = true;
    else if (arg === '--help' || arg === '-h') return 'help';
    else throw new UsageError(`unknown argument ${JSON.stringify(arg)}`);
  }
  return options;
}

class UsageError extends Error {}

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

async function connectTemporal(config: Config, required: boolean): Promise<TemporalClientHandle | undefined> {
  try {
    return await openTemporalClient(config);
  } catch (error) {
    if (required)
      throw new Error(`--remove needs Temporal at ${config.temporal.address}: ${(error as Error).message}`);
    process.stderr.write(
      `note: Temporal unreachable (${(error as Error).message}); running operations not checked\n`,
    );
    return undefined;
  }
}

/**
 * `options` are for tests: the environment to read (default process.env) and the AWS clients'
 * interceptor (test/iam records the calls each process makes); production passes nothing.
 */
export async function main(
  argv: string[],
  { env = process.env, aws: awsOptions = {} }: { env?: Env; aws?: AwsClientsOptions } = {},
): Promise<number> {
  let options: CliOptions | 'help';
  let tool: KeyToolConfig;
  try {
    options = parseArgs(argv);
    if (options === 'help') {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    tool = loadKeyToolConfig(
      {
        databaseUrl: 'DATABASE_URL: not set. Fix: set it to the postgres:// URL the worker uses',
        encryptionKey: 'ENCRYPTION_KEY: not set. Fix: use the key the worker uses',
      },
      env,
    );
  } catch (error) {
    if (error instanceof ConfigError || error instanceof UsageError) {
      process.stderr.write(`${error.message}\n\n${USAGE}\n`);
      return 2;
    }
    throw error;
  }
  const config = tool.core;
  const aws = openAwsClients(config, awsOptions);
  const database = openDatabase(tool.databaseUrl, { applicationName: 'solar-iot-reconcile' });
  let temporal: TemporalClientHandle | undefined;
  try {
    const vault = openVault(config, tool.encryptionKey);
    temporal = await connectTemporal(config, options.remove);
    const result = await reconcileNow(
      {
        iot: aws.iot,
        db: database.db,
        vault,
        temporal: temporal?.client,
        settings: iotSettingsFrom(config),
      },
      { remove: options.remove },
    );
    process.stdout.write(
      `${options.json ? JSON.stringify(result, null, 2) : formatResult(result, options.remove)}\n`,
    );
    return (result.after ?? result.report).drift === 0 ? 0 : 1;
  } catch (error) {
    process.stderr.write(`reconciliation failed: ${(error as Error).message}\n`);
    return 3;
  } finally {
    await temporal?.close();
    await database.close();
    aws.destroy();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await applyStackState();
  process.exitCode = await main(process.argv.slice(2));
}
