/**
 * The ingestion consumer: SQS (standard or FIFO) → PostgreSQL, at least once from SQS, exactly
 * once in the tables.
 *
 *   pollers (N long-polls, 10 messages each) ──► pending ──► writer (one transaction per batch of
 *   up to INGEST_BATCH_MESSAGES, or whatever arrived within INGEST_LINGER_MS) ──► DeleteMessageBatch
 *
 * - A message is deleted only after the transaction holding it committed.
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
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Pool } from 'pg';
import type { Logger } from '../logging/index.js';
import { serializeError } from '../logging/index.js';
import {
  type ParseResult,
  parseMessage,
  QUARANTINE_PREFIX_BYTES,
  type Reading,
  type Rejection,
  sha256Hex,
} from './message.js';
import { IngestMetrics } from './metrics.js';
import { purgeExpiredQuarantine } from './quarantine.js';
import { type IngestSettings, RECEIVE_MESSAGES } from './settings.js';
import {
  addOutcome,
  type BatchOutcome,
  classifyDbError,
  emptyOutcome,
  storableText,
  type WriteHooks,
  writeBatch,
} from './store.js';

export interface RetryPolicy {
  initialMs: number;
  maxMs: number;
}

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

interface Tracked {
  messageId: string;
  receiptHandle: string;
  parsed: ParseResult;
  /** Bytes of the body held (an oversized body: its prefix), counted against INGEST_MAX_IN_FLIGHT_BYTES. */
  bytes: number;
  /** When SQS will make it visible again unless we extend or delete it (ms epoch). */
  visibleUntil: number;
  queuedAt: number;
}

export interface StopResult {
  /** Messages received but neither committed nor deleted (given back to SQS with visibility 0). */
  uncommitted: number;
}

/**
 * The ceiling is also the longest the consumer can stay idle after the database is back (it holds
 * the batch and retries on this clock): with 30 s, the first write after a PostgreSQL crash
 * restart (10 s down) came 11.6 s after the database was ready again. One connection attempt per
 * 5 s is no load for a database that is coming up.
 */
const DEFAULT_RETRY: RetryPolicy = { initialMs: 250, maxMs: 5_000 };
const SQS_BATCH = RECEIVE_MESSAGES;
/** Expired quarantine rows are deleted at start, then this often. */
const QUARANTINE_PURGE_EVERY_MS = 3_600_000;
const DELETE_ATTEMPTS = 4;

export class IngestConsumer {
  readonly metrics: IngestMetrics;
  private readonly log: Logger;
  private readonly retry: RetryPolicy;
  private readonly abort = new AbortController();
  private readonly pending: Tracked[] = [];
  /** Everything received and not yet deleted (pending, being written, being deleted). */
  private readonly tracked = new Set<Tracked>();
  /** Sum of `bytes` over `tracked`; room (messages, bytes) reserved by pollers waiting on a receive. */
  private trackedBytes = 0;
  private reservedMessages = 0;
  private reservedBytes = 0;
  private purger: NodeJS.Timeout | undefined;
  private purging: Promise<void> | undefined;
  private readonly deletions = new Set<Promise<void>>();
  private waiters: (() => void)[] = [];
  private running: Promise<void> | undefined;
  private stopping = false;
  private stopDeadline = Number.POSITIVE_INFINITY;
  private keeper: NodeJS.Timeout | undefined;
  private extending: Promise<void> | undefined;
  private uncommitted = 0;
  private pollersDone = false;
  private lastDataError = '';
  private readonly stopSignal: Promise<void>;
  private signalStop: () => void = () => {};

  constructor(private readonly options: ConsumerOptions) {
    this.metrics = options.metrics ?? new IngestMetrics();
    this.log = options.logger;
    this.retry = options.retry ?? DEFAULT_RETRY;
    this.stopSignal = new Promise((resolve) => {
      this.signalStop = resolve;
    });
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
      this.extending ??= this.extendVisibility().finally(() => {
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
    this.running = Promise.all([pollersDone, this.writeLoop()]).then(async () => {
      await Promise.all(this.deletions);
    });
    this.log.info(
      { queueUrl: this.options.queueUrl, pollers: settings.pollers, batchMessages: settings.batchMessages },
      'ingest consumer started',
    );
  }

  /** Graceful stop: see the module comment. Safe to call more than once. */
  async stop(): Promise<StopResult> {
    if (!this.stopping) {
      this.stopping = true;
      this.stopDeadline = Date.now() + this.options.settings.shutdownTimeoutSeconds * 1000;
      this.abort.abort();
      this.signalStop();
      this.wake();
      this.log.info(
        { pending: this.pending.length, inFlight: this.tracked.size },
        'ingest consumer stopping',
      );
    }
    await this.running;
    if (this.keeper) clearInterval(this.keeper);
    this.keeper = undefined;
    clearInterval(this.purger);
    await this.extending;
    await this.purging;
    const left = [...this.tracked];
    if (left.length > 0) await this.giveBack(left);
    this.log.info({ uncommitted: this.uncommitted }, 'ingest consumer stopped');
    return { uncommitted: this.uncommitted };
  }

  get inFlight(): number {
    return this.tracked.size;
  }

  /** Bytes of the bodies received and not yet deleted (never above INGEST_MAX_IN_FLIGHT_BYTES). */
  get inFlightBytes(): number {
    return this.trackedBytes;
  }

  // -------------------------------------------------------------------------------------------
  // Receiving
  // -------------------------------------------------------------------------------------------

  private async poll(index: number): Promise<void> {
    const { sqs, queueUrl, settings } = this.options;
    let failures = 0;
    while (!this.stopping) {
      // A receive may bring SQS_BATCH bodies of up to maxBodyBytes each (an oversized one is cut to
      // its prefix at once): room for them is reserved before the call, so the cap always holds.
      const reserve = SQS_BATCH * Math.max(settings.maxBodyBytes, QUARANTINE_PREFIX_BYTES);
      // Checked and reserved with no await in between: the other pollers see the reservation
      // (without it, every poller passed the check at once and held pollers x 10 messages).
      const fits = () =>
        this.tracked.size + this.reservedMessages + SQS_BATCH <= settings.maxInFlight &&
        this.trackedBytes + this.reservedBytes + reserve <= settings.maxInFlightBytes;
      while (!this.stopping && !fits()) await this.signal();
      if (this.stopping) break;
      this.reservedMessages += SQS_BATCH;
      this.reservedBytes += reserve;
      const release = () => {
        this.reservedMessages -= SQS_BATCH;
        this.reservedBytes -= reserve;
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
          { abortSignal: this.abort.signal },
        );
        messages = res.Messages ?? [];
        failures = 0;
      } catch (err) {
        release();
        if (this.stopping) break;
        failures++;
        this.metrics.sqsErrors.inc({ operation: 'receive' });
        this.log.warn({ err: serializeError(err), poller: index }, 'ReceiveMessage failed; retrying');
        await this.pause(this.backoff(failures));
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
      const parsed = parseMessage(m.Body ?? '', messageId, {
        maxBodyBytes: settings.maxBodyBytes,
        maxFutureMs: settings.maxFutureSeconds * 1000,
      });
      const tracked: Tracked = {
        messageId,
        receiptHandle: m.ReceiptHandle,
        parsed,
        bytes: Buffer.byteLength(parsed.ok ? parsed.reading.body : parsed.rejection.body),
        visibleUntil: requestedAt + settings.visibilitySeconds * 1000,
        queuedAt: now,
      };
      this.tracked.add(tracked);
      this.trackedBytes += tracked.bytes;
      this.pending.push(tracked);
    }
    this.metrics.queueLag.set(Number.isFinite(oldest) ? Math.max(0, now - oldest) / 1000 : 0);
    this.updateInFlight();
    if (messages.length > 0) this.wake();
  }

  // -------------------------------------------------------------------------------------------
  // Writing
  // -------------------------------------------------------------------------------------------

  private async writeLoop(): Promise<void> {
    const { batchMessages, lingerMs } = this.options.settings;
    for (;;) {
      // Wait for a full batch, for the oldest pending message to have lingered, or for the end.
      for (;;) {
        const draining = this.stopping && this.pollersDone;
        if (this.pending.length >= batchMessages || (draining && this.pending.length > 0)) break;
        if (draining) return;
        const first = this.pending[0];
        if (!first) {
          await this.signal();
          continue;
        }
        const left = first.queuedAt + lingerMs - Date.now();
        if (left <= 0) break;
        await Promise.race([this.signal(), this.sleep(left)]);
      }
      const batch = this.pending.splice(0, batchMessages);
      const written = await this.writeWithRetry(batch);
      if (written === 'gave-up') {
        this.uncommitted += batch.length; // stop() gives them back
        continue;
      }
      if (written.unstorable.size > 0) this.leaveInSqs(written.unstorable);
      this.startDelete(batch.filter((t) => !written.unstorable.has(t)));
    }
  }

  /**
   * `gave-up` only when stopping and the deadline passed with the DB still down. Otherwise the
   * batch is committed except `unstorable`: messages refused by the tables AND by the quarantine,
   * which must not be deleted (nothing holds them but SQS).
   */
  private async writeWithRetry(batch: Tracked[]): Promise<'gave-up' | { unstorable: Set<Tracked> }> {
    const readings: Reading[] = [];
    const rejections: Rejection[] = [];
    for (const t of batch) {
      if (t.parsed.ok) readings.push(t.parsed.reading);
      else rejections.push(t.parsed.rejection);
    }
    const unstorable = new Set<Tracked>();
    const result = await this.attempt(readings, rejections);
    if (result === 'gave-up') return 'gave-up';
    if (result !== 'data-error') {
      this.metrics.recordOutcome(result);
      return { unstorable };
    }
    // PostgreSQL refused a value: write each message on its own; quarantine those it refuses.
    this.log.warn({ messages: batch.length }, 'batch refused by PostgreSQL; writing its messages one by one');
    const total = emptyOutcome();
    for (const t of batch) {
      const { parsed } = t;
      let one: Awaited<ReturnType<IngestConsumer['attempt']>>;
      if (parsed.ok) {
        const r = parsed.reading;
        one = await this.attempt([r], []);
        if (one === 'data-error') {
          one = await this.attempt(
            [],
            [{ messageId: r.messageId, reason: 'db_rejected', detail: this.lastDataError, body: r.body }],
          );
        }
      } else {
        const q = parsed.rejection;
        one = await this.attempt([], [q]);
        if (one === 'data-error') {
          one = await this.attempt(
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
      }
      if (one === 'gave-up') return 'gave-up';
      if (one !== 'data-error') addOutcome(total, one);
      else unstorable.add(t);
    }
    this.metrics.recordOutcome(total);
    return { unstorable };
  }

  /**
   * Messages neither the tables nor the quarantine accept: not deleted and no longer extended, so
   * SQS delivers them again when their visibility expires (to this or another consumer), by then
   * perhaps storable; a redrive policy on the queue moves them to its dead-letter queue after
   * maxReceiveCount deliveries.
   */
  private leaveInSqs(unstorable: Set<Tracked>): void {
    this.metrics.unstorable.inc(unstorable.size);
    this.log.error(
      { messageIds: [...unstorable].map((t) => t.messageId), error: this.lastDataError },
      'messages refused even by the quarantine; left in SQS, they come back when their visibility expires',
    );
    for (const t of unstorable) this.untrack(t);
    this.updateInFlight();
    this.wake();
  }

  /** One write with transient-error retries; `data-error` when PostgreSQL refuses the values. */
  private async attempt(
    readings: Reading[],
    rejections: Rejection[],
  ): Promise<BatchOutcome | 'data-error' | 'gave-up'> {
    let failures = 0;
    for (;;) {
      const started = performance.now();
      try {
        const outcome = await writeBatch(this.options.pool, readings, rejections, this.options.hooks);
        this.metrics.batchSeconds.observe((performance.now() - started) / 1000);
        this.metrics.batchMessages.observe(readings.length + rejections.length);
        if (failures > 0) this.log.info({ failures }, 'database write succeeded after retries');
        return outcome;
      } catch (err) {
        const kind = classifyDbError(err);
        this.metrics.dbErrors.inc({ kind });
        if (kind === 'data') {
          this.lastDataError = err instanceof Error ? err.message : String(err);
          return 'data-error';
        }
        failures++;
        let delay = this.backoff(failures);
        if (this.stopping) {
          const left = this.stopDeadline - Date.now();
          if (left <= 0) {
            this.log.error(
              { err: serializeError(err) },
              'database still unreachable at the shutdown deadline; batch left in SQS',
            );
            return 'gave-up';
          }
          delay = Math.min(delay, left);
        }
        const log = failures === 1 || failures % 10 === 0 ? this.log.warn : this.log.debug;
        log.call(
          this.log,
          { err: serializeError(err), failures, retryInMs: Math.round(delay) },
          'batch write failed; nothing deleted, retrying',
        );
        await (this.stopping ? this.sleep(delay) : this.pause(delay));
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // Deleting, visibility
  // -------------------------------------------------------------------------------------------

  private startDelete(batch: Tracked[]): void {
    const p = this.deleteCommitted(batch).finally(() => {
      this.deletions.delete(p);
      for (const t of batch) this.untrack(t);
      this.updateInFlight();
      this.wake();
    });
    this.deletions.add(p);
  }

  private async deleteCommitted(batch: Tracked[]): Promise<void> {
    const chunks: Tracked[][] = [];
    for (let i = 0; i < batch.length; i += SQS_BATCH) chunks.push(batch.slice(i, i + SQS_BATCH));
    // A few chunks at a time: enough to keep up with the writer without flooding the endpoint.
    const workers = Array.from({ length: Math.min(8, chunks.length) }, async () => {
      for (let chunk = chunks.shift(); chunk; chunk = chunks.shift()) await this.deleteChunk(chunk);
    });
    await Promise.all(workers);
  }

  private async deleteChunk(chunk: Tracked[]): Promise<void> {
    const { sqs, queueUrl } = this.options;
    let left = chunk;
    for (let attempt = 1; left.length > 0; attempt++) {
      const byId = new Map(left.map((t, i) => [String(i), t]));
      let failed: { id: string; code: string; retryable: boolean }[];
      try {
        const res = await sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: queueUrl,
            Entries: [...byId].map(([Id, t]) => ({ Id, ReceiptHandle: t.receiptHandle })),
          }),
        );
        this.metrics.deleted.inc(res.Successful?.length ?? 0);
        failed = (res.Failed ?? []).map((f) => ({
          id: f.Id ?? '',
          code: f.Code ?? 'unknown',
          retryable: !f.SenderFault && f.Code !== 'ReceiptHandleIsInvalid',
        }));
      } catch (err) {
        failed = [...byId.keys()].map((id) => ({ id, code: serializeError(err).message, retryable: true }));
      }
      const retry = failed.filter((f) => f.retryable);
      const final = attempt >= DELETE_ATTEMPTS ? failed : failed.filter((f) => !f.retryable);
      if (final.length > 0) {
        this.metrics.sqsErrors.inc({ operation: 'delete' }, final.length);
        this.log.warn(
          {
            messageIds: final.map((f) => byId.get(f.id)?.messageId),
            codes: [...new Set(final.map((f) => f.code))],
          },
          'could not delete committed messages; their redelivery will be refused as duplicates',
        );
      }
      if (attempt >= DELETE_ATTEMPTS) return;
      left = retry.map((f) => byId.get(f.id)).filter((t): t is Tracked => t !== undefined);
      if (left.length > 0) await this.sleep(this.backoff(attempt));
    }
  }

  /** Gives a full visibility timeout again to every tracked message that has used half of its own. */
  private async extendVisibility(): Promise<void> {
    const { sqs, queueUrl, settings } = this.options;
    const window = settings.visibilitySeconds * 1000;
    const now = Date.now();
    const due = [...this.tracked].filter((t) => t.visibleUntil - now < window / 2);
    for (let i = 0; i < due.length; i += SQS_BATCH) {
      const chunk = due.slice(i, i + SQS_BATCH);
      const sentAt = Date.now();
      try {
        const res = await sqs.send(
          new ChangeMessageVisibilityBatchCommand({
            QueueUrl: queueUrl,
            Entries: chunk.map((t, j) => ({
              Id: String(j),
              ReceiptHandle: t.receiptHandle,
              VisibilityTimeout: settings.visibilitySeconds,
            })),
          }),
        );
        for (const ok of res.Successful ?? []) {
          const t = chunk[Number(ok.Id)];
          if (t) t.visibleUntil = sentAt + window;
        }
        this.metrics.visibilityExtended.inc(res.Successful?.length ?? 0);
        if (res.Failed?.length) {
          this.metrics.sqsErrors.inc({ operation: 'change_visibility' }, res.Failed.length);
          this.log.debug({ failed: res.Failed }, 'visibility extension refused for some messages');
        }
      } catch (err) {
        this.metrics.sqsErrors.inc({ operation: 'change_visibility' }, chunk.length);
        this.log.warn({ err: serializeError(err) }, 'ChangeMessageVisibilityBatch failed');
      }
    }
  }

  /** Shutdown with the database still down: let another consumer have them at once. */
  private async giveBack(left: Tracked[]): Promise<void> {
    const { sqs, queueUrl } = this.options;
    for (let i = 0; i < left.length; i += SQS_BATCH) {
      const chunk = left.slice(i, i + SQS_BATCH);
      await sqs
        .send(
          new ChangeMessageVisibilityBatchCommand({
            QueueUrl: queueUrl,
            Entries: chunk.map((t, j) => ({
              Id: String(j),
              ReceiptHandle: t.receiptHandle,
              VisibilityTimeout: 0,
            })),
          }),
        )
        .catch((err: unknown) => this.log.warn({ err: serializeError(err) }, 'could not give messages back'));
      for (const t of chunk) this.untrack(t);
    }
    this.updateInFlight();
  }

  // -------------------------------------------------------------------------------------------
  // Small tools
  // -------------------------------------------------------------------------------------------

  private untrack(t: Tracked): void {
    if (this.tracked.delete(t)) this.trackedBytes -= t.bytes;
  }

  private updateInFlight(): void {
    this.metrics.inFlight.set(this.tracked.size);
    this.metrics.inFlightBytes.set(this.trackedBytes);
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

  private backoff(failures: number): number {
    const ceiling = Math.min(this.retry.maxMs, this.retry.initialMs * 2 ** Math.min(failures - 1, 20));
    return ceiling / 2 + (Math.random() * ceiling) / 2;
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

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  /** A backoff that stop() cuts short (the caller re-checks the shutdown deadline). */
  private async pause(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([new Promise<void>((resolve) => (timer = setTimeout(resolve, ms))), this.stopSignal]);
    clearTimeout(timer);
  }
}
