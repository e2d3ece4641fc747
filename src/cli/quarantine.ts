/**
 * `solar-iot quarantine list | replay`: the messages the consumer quarantined, by reason, and their
 * replay through today's validation after a fix, through the HTTP API (/telemetry/quarantine):
 * the API's token is all it needs. --limit may ask more than one API call answers: the command
 * follows the API's cursor until it has that many.
 */
import { type Command, Option } from 'commander';
import type { ApiClient } from '../api-client/client.js';
import { InvalidInputError, NotFoundError } from '../service/errors.js';
import {
  MAX_QUARANTINE_PAGE,
  MAX_QUARANTINE_REPLAY,
  QUARANTINE_REASONS,
  type QuarantinedMessageView,
  type QuarantineReason,
  type ReplayResult,
} from '../service/quarantine.js';
import { type CliContext, positiveInt } from './context.js';
import { table, truncate } from './output.js';

const reasonOption = (what: string) => new Option('--reason <code>', what).choices([...QUARANTINE_REASONS]);

export function addQuarantineCommands(program: Command, ctx: CliContext): void {
  const quarantine = program
    .command('quarantine')
    .description('messages the ingestion consumer refused: list them by reason, replay them after a fix');
  addList(quarantine, ctx);
  addReplay(quarantine, ctx);
}

/** Up to `limit` messages of `reason`, oldest first, a page at a time. */
async function listReason(api: ApiClient, reason: QuarantineReason, limit: number) {
  const items: QuarantinedMessageView[] = [];
  let cursor: string | undefined;
  do {
    const page = await api.listQuarantinedMessages({
      reason,
      limit: Math.min(limit - items.length, MAX_QUARANTINE_PAGE),
      cursor,
    });
    items.push(...page.items);
    cursor = page.nextCursor ?? undefined;
  } while (cursor && items.length < limit);
  return { items, more: cursor !== undefined };
}

function addList(quarantine: Command, { session, out }: CliContext): void {
  quarantine
    .command('list')
    .description("count quarantined messages by reason; with --reason, list that reason's messages")
    .addOption(reasonOption('only the messages of this reason, oldest first'))
    .option('--limit <n>', 'messages to show with --reason (1 to 10000)', positiveInt('--limit', 10_000), 50)
    .action(async (opts: { reason?: QuarantineReason; limit: number }) => {
      const api = await session.open();
      if (!opts.reason) {
        const { reasons } = await api.getQuarantineSummary();
        out().result({ reasons }, () => {
          const rows = reasons.map((r) => [r.reason, r.count, r.oldest, r.newest]);
          return `${table(['REASON', 'COUNT', 'OLDEST', 'NEWEST'], rows)}\nDetails: solar-iot quarantine list --reason <REASON>`;
        });
        return;
      }
      const { items, more } = await listReason(api, opts.reason, opts.limit);
      out().result({ items }, () => {
        const rows = items.map((m) => [
          m.id,
          m.receivedAt,
          m.truncated ? `${m.bodyBytes} (prefix kept)` : m.bodyBytes,
          truncate(m.detail, 50),
          truncate(m.body, 50),
        ]);
        const footer = more ? ` (more follow: raise --limit)` : '';
        return `${table(['ID', 'RECEIVED', 'BYTES', 'DETAIL', 'BODY'], rows)}\n${items.length} message(s)${footer}`;
      });
    });
}

/** The ids a call at a time, or up to `limit` messages of `reason` following the API's cursor. */
async function replay(api: ApiClient, ids: string[], opts: { reason?: QuarantineReason; limit: number }) {
  const results: ReplayResult[] = [];
  const missing: string[] = [];
  if (opts.reason) {
    let cursor: string | undefined;
    do {
      const limit = Math.min(opts.limit - results.length, MAX_QUARANTINE_REPLAY);
      const answer = await api.replayQuarantined({ reason: opts.reason, limit, cursor });
      results.push(...answer.results);
      cursor = answer.nextCursor ?? undefined;
    } while (cursor && results.length < opts.limit);
    return { results, missing };
  }
  for (let at = 0; at < ids.length; at += MAX_QUARANTINE_REPLAY) {
    const answer = await api.replayQuarantined({ ids: ids.slice(at, at + MAX_QUARANTINE_REPLAY) });
    results.push(...answer.results);
    missing.push(...answer.missing);
  }
  return { results, missing };
}

function addReplay(quarantine: Command, { session, out }: CliContext): void {
  quarantine
    .command('replay')
    .description(
      'run quarantined messages through validation again: store those now valid (and remove them), ' +
        'record the new reason of the others',
    )
    .argument('[ids...]', 'quarantine row ids (from quarantine list --reason ...)')
    .addOption(reasonOption('every message of this reason (up to --limit), instead of ids'))
    .option(
      '--limit <n>',
      'messages replayed with --reason (1 to 10000)',
      positiveInt('--limit', 10_000),
      1_000,
    )
    .action(async (ids: string[], opts: { reason?: QuarantineReason; limit: number }) => {
      if (ids.length > 0 === Boolean(opts.reason))
        throw new InvalidInputError('Give quarantine ids or --reason <code>, not both and not neither');
      // All checked before the first call: a bad id in a later batch must not leave half replayed.
      const bad = ids.find((id) => !/^\d{1,18}$/.test(id));
      if (bad !== undefined) throw new InvalidInputError(`${JSON.stringify(bad)} is not a quarantine id`);
      const { results, missing } = await replay(await session.open(), ids, opts);
      out().result({ results, missing }, () => {
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
