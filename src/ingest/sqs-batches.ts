/**
 * The consumer's batch calls on received messages: DeleteMessageBatch once committed,
 * ChangeMessageVisibilityBatch to keep them while held, and visibility 0 to give them back.
 */
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Logger } from '../logging/index.js';
import { serializeError } from '../logging/index.js';
import type { Tracked } from './in-flight.js';
import type { IngestMetrics } from './metrics.js';
import { backoffMs, type RetryPolicy, sleep } from './retry.js';
import { RECEIVE_MESSAGES } from './settings.js';

/** Entries per SQS batch call, the same as per receive. */
export const SQS_BATCH = RECEIVE_MESSAGES;
const DELETE_ATTEMPTS = 4;

export interface SqsBatchDeps {
  sqs: SQSClient;
  queueUrl: string;
  metrics: IngestMetrics;
  log: Logger;
  retry: RetryPolicy;
}

function chunksOf<T>(items: T[]): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += SQS_BATCH) chunks.push(items.slice(i, i + SQS_BATCH));
  return chunks;
}

/** Deletes committed messages; what cannot be deleted is logged (its redelivery is a duplicate). */
export async function deleteCommitted(deps: SqsBatchDeps, batch: Tracked[]): Promise<void> {
  const chunks = chunksOf(batch);
  // A few chunks at a time: enough to keep up with the writer without flooding the endpoint.
  const workers = Array.from({ length: Math.min(8, chunks.length) }, async () => {
    for (let chunk = chunks.shift(); chunk; chunk = chunks.shift()) await deleteChunk(deps, chunk);
  });
  await Promise.all(workers);
}

async function deleteChunk(deps: SqsBatchDeps, chunk: Tracked[]): Promise<void> {
  const { sqs, queueUrl, metrics, log } = deps;
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
      metrics.deleted.inc(res.Successful?.length ?? 0);
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
      metrics.sqsErrors.inc({ operation: 'delete' }, final.length);
      log.warn(
        {
          messageIds: final.map((f) => byId.get(f.id)?.messageId),
          codes: [...new Set(final.map((f) => f.code))],
        },
        'could not delete committed messages; their redelivery will be refused as duplicates',
      );
    }
    if (attempt >= DELETE_ATTEMPTS) return;
    left = retry.map((f) => byId.get(f.id)).filter((t): t is Tracked => t !== undefined);
    if (left.length > 0) await sleep(backoffMs(deps.retry, attempt));
  }
}

/** Gives a full visibility timeout again to every message that has used half of its own. */
export async function extendVisibility(
  deps: SqsBatchDeps,
  held: Tracked[],
  visibilitySeconds: number,
): Promise<void> {
  const { sqs, queueUrl, metrics, log } = deps;
  const window = visibilitySeconds * 1000;
  const now = Date.now();
  const due = held.filter((t) => t.visibleUntil - now < window / 2);
  for (const chunk of chunksOf(due)) {
    const sentAt = Date.now();
    try {
      const res = await sqs.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: queueUrl,
          Entries: chunk.map((t, j) => ({
            Id: String(j),
            ReceiptHandle: t.receiptHandle,
            VisibilityTimeout: visibilitySeconds,
          })),
        }),
      );
      for (const ok of res.Successful ?? []) {
        const t = chunk[Number(ok.Id)];
        if (t) t.visibleUntil = sentAt + window;
      }
      metrics.visibilityExtended.inc(res.Successful?.length ?? 0);
      if (res.Failed?.length) {
        metrics.sqsErrors.inc({ operation: 'change_visibility' }, res.Failed.length);
        log.debug({ failed: res.Failed }, 'visibility extension refused for some messages');
      }
    } catch (err) {
      metrics.sqsErrors.inc({ operation: 'change_visibility' }, chunk.length);
      log.warn({ err: serializeError(err) }, 'ChangeMessageVisibilityBatch failed');
    }
  }
}

/**
 * Shutdown with the database still down: visibility 0 lets another consumer have them at once.
 * `done` is called after each chunk's call, given back or not.
 */
export async function giveBack(
  deps: SqsBatchDeps,
  left: Tracked[],
  done: (chunk: Tracked[]) => void,
): Promise<void> {
  const { sqs, queueUrl, log } = deps;
  for (const chunk of chunksOf(left)) {
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
      .catch((err: unknown) => log.warn({ err: serializeError(err) }, 'could not give messages back'));
    done(chunk);
  }
}
