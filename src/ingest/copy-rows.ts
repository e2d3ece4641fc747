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

/**
 * Sends `rows` (each already `copyField`-escaped, tab-separated, newline-terminated) as ONE
 * CopyData message and resolves to the row count PostgreSQL reports. Rejects with PostgreSQL's
 * error (its `code`, e.g. 23505 for a duplicate key); the transaction is then aborted.
 *
 * One write on purpose: after an error pg-copy-streams 7 detaches the stream from the connection,
 * and a chunk still queued behind a full socket would then be written to `null` on 'drain'; with
 * one chunk nothing is queued. Destroying the stream in the error event (while it still holds the
 * connection) keeps its final CopyDone from being attempted too. Both are precautions read from
 * its source: a duplicate key in the first row of a 5 MB COPY did not crash without the destroy.
 */
export function copyRows(client: PoolClient, sql: string, rows: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const stream = client.query(copyFrom(sql));
    // `on`, not `once`: a second error must not go unhandled (the promise keeps the first).
    stream.on('error', (err) => {
      stream.destroy();
      reject(err);
    });
    stream.once('finish', () => resolve(stream.rowCount));
    stream.end(rows, 'utf8');
  });
}
