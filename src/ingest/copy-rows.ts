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
 * One write on purpose: pg-copy-streams 7 keeps writing queued chunks on the socket's 'drain'
 * after an error has detached it from the connection (a TypeError outside any promise); with
 * one chunk nothing is queued. The stream is destroyed inside the error event itself, while it
 * still holds the connection, so it never reaches its final CopyDone write either.
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
