/**
 * The admin commands that open stored device keys (ENCRYPTION_KEY and the database, as the worker):
 *
 *   solar-iot export-credentials <plantId> <directory> [--endpoint <ats-host>] [--emulator-certificate]
 *   solar-iot reencrypt-keys [--batch-size N] [--dry-run]
 *
 * They print file names, fingerprints and counts, never a key or a PEM. Exit codes as before they
 * were commands of this CLI: export 0, 2 (configuration, usage, or a bundle that cannot be
 * exported), 1 (anything else); reencrypt 0, 1 (rows failed), 2, 130 (interrupted).
 */
import type { Command } from 'commander';
import { openDatabase, openVault } from '../app/clients.js';
import { type KeyToolFixes, loadKeyToolConfig } from '../app/config.js';
import { atsEndpoint, ExportError, exportCommand } from '../secrets/export-credentials.js';
import { reencryptStoredKeys, temporalKeyReport } from '../secrets/reencrypt-keys.js';
import { InvalidInputError } from '../service/errors.js';
import { type CliContext, positiveInt } from './context.js';

const FIXES: KeyToolFixes = {
  encryptionKey:
    'ENCRYPTION_KEY: is not set. Fix: set it to the key the plant keys are stored under, or run `npm start`',
  databaseUrl: 'DATABASE_URL: is not set. Fix: set it to a postgres:// URL, or run `npm start`',
};

/** Lines for people (stderr with --json) and for JSON (collected into the result). */
function lines(ctx: CliContext) {
  const collected: string[] = [];
  return {
    collected,
    line: (text: string) => {
      collected.push(text);
      if (!ctx.out().json) ctx.io.stdout.write(`${text}\n`);
    },
  };
}

export function addStoredKeyCommands(program: Command, ctx: CliContext): void {
  const { session, out } = ctx;
  program
    .command('export-credentials')
    .description(
      "admin: write a plant's device bundle (certificate, private key, CA, device.json; 0600) for its installer",
    )
    .argument('<plantId>')
    .argument('<directory>', 'a new directory, or an empty one of yours')
    .option('--endpoint <host>', 'the ATS data endpoint (default AWS_IOT_ENDPOINT, else asked of AWS)')
    .option(
      '--emulator-certificate',
      'accept a certificate not of the stored key (moto signs CSRs with its own)',
    )
    .action(
      async (
        plantId: string,
        directory: string,
        opts: { endpoint?: string; emulatorCertificate?: boolean },
      ) => {
        const tool = loadKeyToolConfig(FIXES, session.env);
        const database = openDatabase(tool.databaseUrl, {
          max: 1,
          applicationName: 'solar-iot export-credentials',
        });
        const { line } = lines(ctx);
        try {
          const result = await exportCommand(
            { plantId, directory, endpoint: opts.endpoint, checkKeyMatches: !opts.emulatorCertificate },
            {
              db: database.db,
              vault: openVault(tool.core, tool.encryptionKey),
              endpoint: () => atsEndpoint(tool.core, session.aws),
            },
            line,
          );
          if (out().json) out().result(result, () => '');
        } catch (error) {
          // A bundle that cannot be exported is the caller's to fix (exit 2), as before.
          if (error instanceof ExportError) throw new InvalidInputError(error.message, 'export_refused');
          throw error;
        } finally {
          await database.close();
        }
      },
    );

  program
    .command('reencrypt-keys')
    .description(
      'admin: rewrite stored keys under the current ENCRYPTION_KEY (batched, resumable); list what of Temporal needs which codec key',
    )
    .option('--batch-size <n>', 'rows per transaction (1 to 10000)', positiveInt('--batch-size', 10_000), 50)
    .option('--dry-run', 'count only')
    .action((opts: { batchSize: number; dryRun?: boolean }) => reencrypt(ctx, opts));
}

async function reencrypt(ctx: CliContext, opts: { batchSize: number; dryRun?: boolean }): Promise<void> {
  const { session, out, state } = ctx;
  const dryRun = Boolean(opts.dryRun);
  const tool = loadKeyToolConfig(FIXES, session.env);
  const cipher = openVault(tool.core, tool.encryptionKey);
  const database = openDatabase(tool.databaseUrl, { max: 2, applicationName: 'solar-iot reencrypt-keys' });
  const { line, collected } = lines(ctx);
  const abort = new AbortController();
  const onSignal = () => {
    out().note('interrupted: finishing the batch in flight, then stopping (run again to resume)');
    abort.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let bar = out().progress(0, 'reencrypt');
  let done = 0;
  try {
    const fingerprints = await cipher.keyFingerprints();
    line(`current key ${fingerprints[0]}; previous keys: ${fingerprints.slice(1).join(', ') || 'none'}`);
    const report = await reencryptStoredKeys({
      db: database.db,
      cipher,
      batchSize: opts.batchSize,
      dryRun,
      signal: abort.signal,
      onStart: (found) => {
        bar = out().progress(found, 'reencrypt');
      },
      onBatch: (b) => {
        done += b.rows + b.failed;
        bar.update(done, b.failed ? `${b.failed} failed` : '');
        if (!ctx.io.stderr.isTTY || out().json)
          line(
            `batch ${b.number}: ${b.rows} rows re-encrypted (${b.values} values)${b.failed ? `, ${b.failed} failed` : ''}`,
          );
      },
    });
    bar.stop();
    line(`rows under an old key at start: ${report.found}${dryRun ? ' (dry run: nothing changed)' : ''}`);
    for (const f of report.failures)
      line(`failed: row ${f.id} (request ${f.requestId}) ${f.column}: ${f.reason}`);
    if (!dryRun) {
      line(
        `done: ${report.rowsReencrypted} rows (${report.valuesReencrypted} values) re-encrypted in ${report.batches} batches, ` +
          `${report.rowsFailed} rows failed, ${report.remaining} remaining${report.interrupted ? ' (interrupted)' : ''}` +
          (report.remaining > 0 ? ': fix the failures or run again' : ''),
      );
    }
    await temporalKeyReport(tool.core, session.env, line);
    if (out().json) out().result({ ...report, lines: collected }, () => '');
    state.exitCode = report.failures.length > 0 ? 1 : report.interrupted ? 130 : 0;
  } finally {
    bar.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await database.close();
  }
}
