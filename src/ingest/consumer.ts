/**
 * The ingestion consumer: SQS (standard or FIFO) → PostgreSQL, at least once from SQS, exactly
 * once in the tables.
 *
 *   pollers (N long-polls, 10 messages each) ──► pending ──► writers (INGEST_WRITERS at once; one
 *   transaction per batch of up to INGEST_BATCH_MESSAGES, or whatever arrived within
 *   INGEST_LINGER_MS) ──► DeleteMessageBatch
 *
 * - A message is deleted only after the transaction holding it committed.
 * - Writers: while one batch waits on PostgreSQL (its COPY, its COMMIT's flush to disk), the next
 *   is prepared and sent (bench:ingest measures it). The batches' writes take their row locks in
 *   one order (store.ts), and the last-reading upsert keeps the greatest: their order does not
 *   matter.
 * - Database unreachable: the writer retries the same batch with exponential backoff and deletes
 *   nothing; the pollers stop at INGEST_MAX_IN_FLIGHT; visibility keeps being extended, so the
 *   messages stay with this consumer and are written once the database is back.
 * - A value PostgreSQL refuses (data error) splits the batch: every other message is written, the
 *   culprit is quarantined as `db_rejected`; one bad message never blocks the queue. One the
 *   quarantine refuses too is not deleted: it is counted and left to come back from SQS.
 * - Visibility: every received message is tracked until deleted; when it has less than half its
 *   visibility timeout left, ChangeMessageVisibilityBatch gives it a full timeout again.
 * - stop(): no new receive (in-flight long polls are aborted: what they would have returned stays
 *   in SQS), pending messages are written and deleted, then it resolves. If the database stays
 *   unreachable past INGEST_SHUTDOWN_TIMEOUT_SECONDS, the uncommitted messages are made visible
 *   again (visibility 0) for another consumer, never deleted.
 */
import { type Message, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { Pool } from 'pg';
import type { Logger } from '../logging/index.js';
import { serializeError } from '../logging/index.js';
import { BatchWriter } from './batch-writer.js';
import { InFlight, type Tracked } from './in-flight.js';
import { parseMessage, QUARANTINE_PREFIX_BYTES } from './message.js';
import { IngestMetrics } from './metrics.js';
import { purgeExpiredQuarantine } from './quarantine.js';
import { backoffMs, DEFAULT_RETRY, type RetryPolicy, StopSignal, sleep } from './retry.js';
import { type IngestSettings, parseOptionsOf } from './settings.js';
import { deleteCommitted, extendVisibility, giveBack, SQS_BATCH, type SqsBatchDeps } from './sqs-batches.js';
import type { WriteHooks } from './store.js';

export type { RetryPolicy } from './retry.js';

export interface ConsumerOptions {
  sqs: SQSClient;
  queueUrl: string;
  pool: Pool;
  settings: IngestSettings;
  logger: Logger;
  metrics?: IngestMetrics;
  /** Backoff for database and SQS errors (default 250 ms doubling to 5 s, with jitter). */
  retry?: RetryPolicy;
  hooks?: WriteHooks;
}

export interface StopResult {
  /** Messages received but neither committed nor deleted (given back to SQS with visibility 0). */
  uncommitted: number;
}

/** Expired quarantine rows are deleted at start, then this often. */
const QUARANTINE_PURGE_EVERY_MS = 3_600_000;

export class IngestConsumer {
  readonly metrics: IngestMetrics;
  private readonly log: Logger;
  private readonly retry: RetryPolicy;
  private readonly stopSignal = new StopSignal();
  /** Received and not yet deleted: the room INGEST_MAX_IN_FLIGHT(_BYTES) leaves the pollers. */
  private readonly held: InFlight;
  private readonly writer: BatchWriter;
  private readonly sqsBatches: SqsBatchDeps;
  private purger: NodeJS.Timeout | undefined;
  private purging: Promise<void> | undefined;
  private readonly deletions = new Set<Promise<void>>();
  private waiters: (() => void)[] = [];
  private running: Promise<void> | undefined;
  private keeper: NodeJS.Timeout | undefined;
  private extending: Promise<void> | undefined;
  private uncommitted = 0;
  private pollersDone = false;

  constructor(private readonly options: ConsumerOptions) {
    this.metrics = options.metrics ?? new IngestMetrics();
    this.log = options.logger;
    this.retry = options.retry ?? DEFAULT_RETRY;
    this.held = new InFlight(options.settings, this.metrics);
    const { pool, hooks, sqs, queueUrl } = options;
    const common = { metrics: this.metrics, log: this.log, retry: this.retry };
    this.writer = new BatchWriter({ pool, hooks, stop: this.stopSignal, ...common });
    this.sqsBatches = { sqs, queueUrl, ...common };
  }

  private get stopping(): boolean {
    return this.stopSignal.stopping;
  }

  /** Starts the pollers, the writer and the visibility keeper. */
  start(): void {
    if (this.running) throw new Error('consumer already started');
    const { settings } = this.options;
    const pollers = Array.from({ length: settings.pollers }, (_, i) => this.poll(i));
    const pollersDone = Promise.all(pollers).then(() => {
      this.pollersDone = true;
      this.wake();
    });
    const period = Math.max(500, (settings.visibilitySeconds * 1000) / 4);
    this.keeper = setInterval(() => {
      this.extending ??= extendVisibility(
        this.sqsBatches,
        this.held.all(),
        settings.visibilitySeconds,
      ).finally(() => {
        this.extending = undefined;
      });
    }, period);
    const purge = () => {
      this.purging ??= this.purgeQuarantine().finally(() => {
        this.purging = undefined;
      });
    };
    purge();
    this.purger = setInterval(purge, QUARANTINE_PURGE_EVERY_MS);
    const writers = Array.from({ length: settings.writers }, () => this.writeLoop());
    this.running = Promise.all([pollersDone, ...writers]).then(async () => {
      await Promise.all(this.deletions);
    });
    this.log.info(
      {
        queueUrl: this.options.queueUrl,
        pollers: settings.pollers,
        writers: settings.writers,
        batchMessages: settings.batchMessages,
      },
      'ingest consumer started',
    );
  }

  /** Graceful stop: see the module comment. Safe to call more than once. */
  async stop(): Promise<StopResult> {
    if (!this.stopping) {
      this.stopSignal.trigger(Date.now() + this.options.settings.shutdownTimeoutSeconds * 1000);
      this.wake();
      this.log.info(
        { pending: this.held.pending.length, inFlight: this.held.size },
        'ingest consumer stopping',
      );
    }
    await this.running;
    if (this.keeper) clearInterval(this.keeper);
    this.keeper = undefined;
    clearInterval(this.purger);
    await this.extending;
    await this.purging;
    const left = this.held.all();
    if (left.length > 0) {
      await giveBack(this.sqsBatches, left, (chunk) => {
        for (const t of chunk) this.held.untrack(t);
      });
      this.held.report();
    }
    this.log.info({ uncommitted: this.uncommitted }, 'ingest consumer stopped');
    return { uncommitted: this.uncommitted };
  }

  get inFlight(): number {
    return this.held.size;
  }

  /** Bytes of the bodies received and not yet deleted (never above INGEST_MAX_IN_FLIGHT_BYTES). */
  get inFlightBytes(): number {
    return this.held.bytes;
  }

  private async poll(index: number): Promise<void> {
    const { sqs, queueUrl, settings } = this.options;
    let failures = 0;
    while (!this.stopping) {
      // A receive may bring SQS_BATCH bodies of up to maxBodyBytes each (an oversized one is cut to
      // its prefix at once): room for them is reserved before the call, so the cap always holds.
      const room = {
        messages: SQS_BATCH,
        bytes: SQS_BATCH * Math.max(settings.maxBodyBytes, QUARANTINE_PREFIX_BYTES),
      };
      // Checked and reserved with no await in between: the other pollers see the reservation
      // (without it, every poller would pass the check at once and hold pollers x 10 messages).
      while (!this.stopping && !this.held.fits(room)) await this.signal();
      if (this.stopping) break;
      this.held.reserve(room);
      const release = () => {
        this.held.release(room);
        this.wake(); // another poller may fit now
      };
      let messages: Message[];
      // Visibility is counted from before the call: SQS starts the clock somewhere inside it.
      const requestedAt = Date.now();
      try {
        const res = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: queueUrl,
            MaxNumberOfMessages: SQS_BATCH,
            WaitTimeSeconds: settings.waitSeconds,
            VisibilityTimeout: settings.visibilitySeconds,
            MessageSystemAttributeNames: ['SentTimestamp', 'ApproximateReceiveCount'],
          }),
          { abortSignal: this.stopSignal.abort.signal },
        );
        messages = res.Messages ?? [];
        failures = 0;
      } catch (err) {
        release();
        if (this.stopping) break;
        failures++;
        this.metrics.sqsErrors.inc({ operation: 'receive' });
        this.log.warn({ err: serializeError(err), poller: index }, 'ReceiveMessage failed; retrying');
        await this.stopSignal.pause(backoffMs(this.retry, failures));
        continue;
      }
      release(); // accept() takes the messages into account in the same tick
      this.accept(messages, requestedAt);
    }
  }

  private accept(messages: Message[], requestedAt: number): void {
    const now = Date.now();
    const { settings } = this.options;
    let oldest = Number.POSITIVE_INFINITY;
    for (const m of messages) {
      this.metrics.received.inc();
      const sent = Number(m.Attributes?.SentTimestamp);
      if (Number.isFinite(sent)) {
        oldest = Math.min(oldest, sent);
        this.metrics.messageAge.observe(Math.max(0, now - sent) / 1000);
      }
      if (!m.ReceiptHandle || !m.MessageId) continue; // never happens with SQS; nothing to delete by
      const messageId = m.MessageId;
      const parsed = parseMessage(m.Body ?? '', messageId, parseOptionsOf(settings));
      this.held.add({
        messageId,
        receiptHandle: m.ReceiptHandle,
        parsed,
        bytes: Buffer.byteLength(parsed.ok ? parsed.reading.body : parsed.rejection.body),
        visibleUntil: requestedAt + settings.visibilitySeconds * 1000,
        queuedAt: now,
      });
    }
    this.metrics.queueLag.set(Number.isFinite(oldest) ? Math.max(0, now - oldest) / 1000 : 0);
    this.held.report();
    if (messages.length > 0) this.wake();
  }

  private async writeLoop(): Promise<void> {
    for (let batch = await this.nextBatch(); batch; batch = await this.nextBatch()) {
      const written = await this.writer.write(batch);
      if (written === 'gave-up') {
        this.uncommitted += batch.length; // stop() gives them back
        continue;
      }
      if (written.unstorable.size > 0) this.leaveInSqs(written.unstorable, written.dataError);
      this.startDelete(batch.filter((t) => !written.unstorable.has(t)));
    }
  }

  /**
   * The next batch: a full one, what is pending once the oldest message has lingered, or the rest
   * when stopping; undefined once stopping with nothing left to write. Taken off `pending` in the
   * tick its readiness is seen, so another writer never takes the same messages or a scrap.
   */
  private async nextBatch(): Promise<Tracked[] | undefined> {
    const { batchMessages, lingerMs } = this.options.settings;
    const { pending } = this.held;
    for (;;) {
      const draining = this.stopping && this.pollersDone;
      const first = pending[0];
      if (!first) {
        if (draining) return undefined;
        await this.signal();
        continue;
      }
      const left = first.queuedAt + lingerMs - Date.now();
      if (pending.length >= batchMessages || draining || left <= 0) return pending.splice(0, batchMessages);
      await Promise.race([this.signal(), sleep(left)]);
    }
  }

  /**
   * Messages neither the tables nor the quarantine accept: not deleted and no longer extended, so
   * SQS delivers them again when their visibility expires (to this or another consumer), by then
   * perhaps storable; a redrive policy on the queue moves them to its dead-letter queue after
   * maxReceiveCount deliveries.
   */
  private leaveInSqs(unstorable: Set<Tracked>, error: string | undefined): void {
    this.metrics.unstorable.inc(unstorable.size);
    this.log.error(
      { messageIds: [...unstorable].map((t) => t.messageId), error },
      'messages refused even by the quarantine; left in SQS, they come back when their visibility expires',
    );
    for (const t of unstorable) this.held.untrack(t);
    this.held.report();
    this.wake();
  }

  private startDelete(batch: Tracked[]): void {
    const p = deleteCommitted(this.sqsBatches, batch).finally(() => {
      this.deletions.delete(p);
      for (const t of batch) this.held.untrack(t);
      this.held.report();
      this.wake();
    });
    this.deletions.add(p);
  }

  /** Deletes expired quarantine rows; several consumers may do it at once (see purgeExpiredQuarantine). */
  private async purgeQuarantine(): Promise<void> {
    const retentionDays = this.options.settings.quarantineRetentionDays;
    try {
      const deleted = await purgeExpiredQuarantine(this.options.pool, { retentionDays });
      if (deleted > 0) this.log.info({ deleted, retentionDays }, 'expired quarantine rows deleted');
    } catch (err) {
      this.log.warn(
        { err: serializeError(err) },
        'could not delete expired quarantine rows; next try in an hour',
      );
    }
  }

  /** Resolves at the next wake() (new messages, a deletion finished, stop). */
  private signal(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
