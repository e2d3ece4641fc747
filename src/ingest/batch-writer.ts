/**
 * One batch of received messages into PostgreSQL: one transaction, retried while the database is
 * unreachable; when PostgreSQL refuses a value, the messages one by one, the refused ones into the
 * quarantine as `db_rejected`, so one bad message never blocks the others.
 */
import type { Pool } from 'pg';
import type { Logger } from '../logging/index.js';
import { serializeError } from '../logging/index.js';
import type { Tracked } from './in-flight.js';
import { type Reading, type Rejection, sha256Hex } from './message.js';
import type { IngestMetrics } from './metrics.js';
import { backoffMs, type RetryPolicy, type StopSignal, sleep } from './retry.js';
import {
  addOutcome,
  type BatchOutcome,
  classifyDbError,
  emptyOutcome,
  storableText,
  type WriteHooks,
  writeBatch,
} from './store.js';

export interface BatchWriterDeps {
  pool: Pool;
  hooks?: WriteHooks;
  metrics: IngestMetrics;
  log: Logger;
  retry: RetryPolicy;
  stop: StopSignal;
}

/** PostgreSQL refused a value: its message (a `db_rejected` quarantine row's detail). */
interface DataError {
  dataError: string;
}

type Attempt = BatchOutcome | DataError | 'gave-up';

const refused = (a: Attempt): a is DataError => typeof a === 'object' && 'dataError' in a;

/** What a write committed: everything of the batch except `unstorable`. */
export interface Written {
  unstorable: Set<Tracked>;
  /** PostgreSQL's message for the last value it refused, when it refused one. */
  dataError?: string;
}

/**
 * Safe to use from several writers at once (INGEST_WRITERS): it keeps no state between writes.
 */
export class BatchWriter {
  constructor(private readonly deps: BatchWriterDeps) {}

  /**
   * `gave-up` only when stopping and the deadline passed with the DB still down. Otherwise the
   * batch is committed except `unstorable`: messages refused by the tables AND by the quarantine,
   * which must not be deleted (nothing holds them but SQS).
   */
  async write(batch: Tracked[]): Promise<'gave-up' | Written> {
    const readings: Reading[] = [];
    const rejections: Rejection[] = [];
    for (const t of batch) {
      if (t.parsed.ok) readings.push(t.parsed.reading);
      else rejections.push(t.parsed.rejection);
    }
    const result = await this.attempt(readings, rejections);
    if (result === 'gave-up') return 'gave-up';
    if (!refused(result)) {
      this.deps.metrics.recordOutcome(result);
      return { unstorable: new Set<Tracked>() };
    }
    this.deps.log.warn(
      { messages: batch.length },
      'batch refused by PostgreSQL; writing its messages one by one',
    );
    return this.writeOneByOne(batch);
  }

  /** PostgreSQL refused a value: each message on its own; those it refuses into the quarantine. */
  private async writeOneByOne(batch: Tracked[]): Promise<'gave-up' | Written> {
    const written: Written = { unstorable: new Set<Tracked>() };
    const total = emptyOutcome();
    for (const t of batch) {
      const one = await this.writeOne(t);
      if (one === 'gave-up') return 'gave-up';
      if (!refused(one)) addOutcome(total, one);
      else {
        written.unstorable.add(t);
        written.dataError = one.dataError;
      }
    }
    this.deps.metrics.recordOutcome(total);
    return written;
  }

  private async writeOne({ parsed }: Tracked): Promise<Attempt> {
    if (parsed.ok) {
      const r = parsed.reading;
      const one = await this.attempt([r], []);
      if (!refused(one)) return one;
      return this.attempt(
        [],
        [{ messageId: r.messageId, reason: 'db_rejected', detail: one.dataError, body: r.body }],
      );
    }
    const q = parsed.rejection;
    const one = await this.attempt([], [q]);
    if (!refused(one)) return one;
    return this.attempt(
      [],
      [
        {
          ...q,
          detail: `${q.detail} (body made storable)`,
          body: storableText(q.body),
          // The digest and size describe the body as received, not the escaped one.
          bodyBytes: q.bodyBytes ?? Buffer.byteLength(q.body),
          bodySha256: q.bodySha256 ?? sha256Hex(q.body),
        },
      ],
    );
  }

  /** One write with transient-error retries; a DataError when PostgreSQL refuses the values. */
  private async attempt(readings: Reading[], rejections: Rejection[]): Promise<Attempt> {
    const { pool, hooks, metrics, log, stop } = this.deps;
    let failures = 0;
    for (;;) {
      const started = performance.now();
      try {
        const outcome = await writeBatch(pool, readings, rejections, hooks);
        metrics.batchSeconds.observe((performance.now() - started) / 1000);
        metrics.batchMessages.observe(readings.length + rejections.length);
        if (failures > 0) log.info({ failures }, 'database write succeeded after retries');
        return outcome;
      } catch (err) {
        const kind = classifyDbError(err);
        metrics.dbErrors.inc({ kind });
        if (kind === 'data') return { dataError: err instanceof Error ? err.message : String(err) };
        failures++;
        let delay = backoffMs(this.deps.retry, failures);
        if (stop.stopping) {
          const left = stop.deadline - Date.now();
          if (left <= 0) {
            log.error(
              { err: serializeError(err) },
              'database still unreachable at the shutdown deadline; batch left in SQS',
            );
            return 'gave-up';
          }
          delay = Math.min(delay, left);
        }
        const level = failures === 1 || failures % 10 === 0 ? log.warn : log.debug;
        level.call(
          log,
          { err: serializeError(err), failures, retryInMs: Math.round(delay) },
          'batch write failed; nothing deleted, retrying',
        );
        await (stop.stopping ? sleep(delay) : stop.pause(delay));
      }
    }
  }
}
