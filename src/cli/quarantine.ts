/**
 * `solar-iot quarantine list | replay`: the messages the consumer quarantined, by reason, and their
 * replay through today's validation after a fix. Only PostgreSQL is needed (no Temporal, no AWS).
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { Pool } from 'pg';
import { QUARANTINE_REASONS } from '../ingest/message.js';
import { listQuarantined, replayQuarantined, summarizeQuarantine } from '../ingest/quarantine.js';
import type { IngestSettings } from '../ingest/settings.js';
import { InvalidInputError, NotFoundError } from '../service/errors.js';
import type { Output } from './output.js';
import { table, truncate } from './output.js';

export interface QuarantineCliDeps {
  database(): Promise<Pool>;
  out(): Output;
  /** The consumer's settings from the same environment. */
  ingestSettings(): IngestSettings;
}

function limitOf(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 10_000)
    throw new InvalidArgumentError('--limit must be a whole number from 1 to 10000.');
  return n;
}

const reasonOption = (what: string) => new Option('--reason <code>', what).choices([...QUARANTINE_REASONS]);

export function addQuarantineCommands(program: Command, deps: QuarantineCliDeps): void {
  const quarantine = program
    .command('quarantine')
    .description('messages the ingestion consumer refused: list them by reason, replay them after a fix');
  addList(quarantine, deps);
  addReplay(quarantine, deps);
}

function addList(quarantine: Command, deps: QuarantineCliDeps): void {
  quarantine
    .command('list')
    .description("count quarantined messages by reason; with --reason, list that reason's messages")
    .addOption(reasonOption('only the messages of this reason, oldest first'))
    .option('--limit <n>', 'messages to show with --reason (1 to 10000)', limitOf, 50)
    .action(async (opts: { reason?: string; limit: number }) => {
      const pool = await deps.database();
      if (!opts.reason) {
        const reasons = await summarizeQuarantine(pool);
        deps.out().result({ reasons }, () => {
          const rows = reasons.map((r) => [
            r.reason,
            r.count,
            r.oldest.toISOString(),
            r.newest.toISOString(),
          ]);
          return `${table(['REASON', 'COUNT', 'OLDEST', 'NEWEST'], rows)}\nDetails: solar-iot quarantine list --reason <REASON>`;
        });
        return;
      }
      const items = await listQuarantined(pool, { reason: opts.reason, limit: opts.limit });
      deps.out().result({ items }, () => {
        const rows = items.map((m) => [
          m.id,
          m.receivedAt.toISOString(),
          m.truncated ? `${m.bodyBytes} (prefix kept)` : m.bodyBytes,
          truncate(m.detail, 50),
          truncate(m.body, 50),
        ]);
        return `${table(['ID', 'RECEIVED', 'BYTES', 'DETAIL', 'BODY'], rows)}\n${items.length} message(s)`;
      });
    });
}

function addReplay(quarantine: Command, deps: QuarantineCliDeps): void {
  quarantine
    .command('replay')
    .description(
      'run quarantined messages through validation again: store those now valid (and remove them), ' +
        'record the new reason of the others',
    )
    .argument('[ids...]', 'quarantine row ids (from quarantine list --reason ...)')
    .addOption(reasonOption('every message of this reason (up to --limit), instead of ids'))
    .option('--limit <n>', 'messages replayed with --reason (1 to 10000)', limitOf, 1_000)
    .action(async (ids: string[], opts: { reason?: string; limit: number }) => {
      if (ids.length > 0 === Boolean(opts.reason))
        throw new InvalidInputError('Give quarantine ids or --reason <code>, not both and not neither');
      const bad = ids.find((id) => !/^\d{1,18}$/.test(id));
      if (bad !== undefined) throw new InvalidInputError(`${JSON.stringify(bad)} is not a quarantine id`);
      // Today's validation: the consumer's settings from the same environment.
      const settings = deps.ingestSettings();
      const pool = await deps.database();
      const messages = await listQuarantined(
        pool,
        opts.reason ? { reason: opts.reason, limit: opts.limit } : { ids, limit: ids.length },
      );
      const results = await replayQuarantined(pool, messages, {
        maxBodyBytes: settings.maxBodyBytes,
        maxFutureMs: settings.maxFutureSeconds * 1000,
      });
      const found = new Set(messages.map((m) => m.id));
      const missing = ids.filter((id) => !found.has(String(BigInt(id))));
      deps.out().result({ results, missing }, () => {
        const counts = new Map<string, number>();
        for (const r of results) counts.set(r.result, (counts.get(r.result) ?? 0) + 1);
        const summary = [...counts].map(([k, n]) => `${n} ${k}`).join(', ') || 'nothing to replay';
        return `${table(
          ['ID', 'RESULT', 'REASON'],
          results.map((r) => [r.id, r.result, truncate(r.reason, 70)]),
        )}\n${summary}`;
      });
      if (missing.length > 0)
        throw new NotFoundError(
          'quarantine_not_found',
          `No quarantined message with id ${missing.join(', ')}`,
        );
    });
}
