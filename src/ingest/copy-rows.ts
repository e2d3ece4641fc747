/**
 * `COPY ... FROM STDIN` (text format) inside the caller's transaction: the write path's fast way
 * to insert rows it already knows are new (store.ts). Only insertion: COPY has no ON CONFLICT.
 */
import type { PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';

const SPECIAL = /[\\\t\n\r]/;
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/**
 * One field in COPY's text format. A backslash is the escape character, tab ends a field and a
 * newline or carriage return a row: those four are escaped, everything else (quotes, unicode) is
 * data. Escaping the backslash also keeps `\.` (end of data) and `\N` (NULL) out of the stream.
 */
export function copyField(value: string): string {
  return SPECIAL.test(value) ? value.replace(/[\\\t\n\r]/g, (c) => ESCAPES[c] as string) : value;
}

/** About this much text per CopyData message: big enough to be cheap, small enough to overlap. */
export const COPY_CHUNK_CHARS = 64 * 1024;

/**
 * Sends the rows (each already `copyField`-escaped, tab-separated, newline-terminated; `chunks`
 * yields them a COPY_CHUNK_CHARS or so at a time) and resolves to the row count PostgreSQL
 * reports. Rejects with PostgreSQL's error (its `code`, e.g. 23505 for a duplicate key); the
 * transaction is then aborted.
 *
 * Each chunk waits until the previous one is on the socket: PostgreSQL parses one while the next
 * is built (a lazy `chunks`), which is most of the difference to building the whole text first.
 * After an error nothing more is written, and the stream is destroyed in the error event, while
 * pg-copy-streams 7 still holds the connection: it then drops what is queued instead of writing
 * it to a detached connection on 'drain', and does not attempt its final CopyDone.
 * `test/ingest/store.test.ts` refuses the first row of a COPY of megabytes.
 */
export async function copyRows(client: PoolClient, sql: string, chunks: Iterable<string>): Promise<number> {
  const stream = client.query(copyFrom(sql));
  let failed = false;
  const done = new Promise<number>((resolve, reject) => {
    // `on`, not `once`: a second error must not go unhandled (the promise keeps the first).
    stream.on('error', (err) => {
      failed = true;
      stream.destroy();
      reject(err);
    });
    stream.once('finish', () => resolve(stream.rowCount));
  });
  const settled = done.then(
    () => undefined,
    () => undefined,
  );
  try {
    for (const chunk of chunks) {
      if (failed) break;
      if (!stream.write(chunk, 'utf8')) {
        await Promise.race([new Promise((resolve) => stream.once('drain', resolve)), settled]);
      }
    }
  } catch (err) {
    // Never leave the connection in COPY mode (the next query would wait behind it forever):
    // CopyFail aborts the COPY, and `done` rejects with this error.
    stream.destroy(err as Error);
    await settled;
    throw err;
  }
  if (!failed) stream.end();
  return done;
}
