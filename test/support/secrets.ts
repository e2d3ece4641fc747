/**
 * The test codec, helpers to look at raw (undecoded) histories, at every table and at logs for
 * secrets, and a plant whose stored key and certificate a test chooses.
 */

import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import type { WorkflowHandle } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import type pg from 'pg';
import { inject } from 'vitest';
import { deriveCodecKeys } from '../../src/codec/keys.js';
import { EncryptionCodec } from '../../src/codec/payload-codec.js';
import type { DbHandle } from '../../src/db/client.js';
import { certificates, plants } from '../../src/db/schema.js';
import { createLogger, type Logger } from '../../src/logging/index.js';

/** The codec every process of the test stack would derive from the test ENCRYPTION_KEY. */
export async function testCodec(): Promise<EncryptionCodec> {
  return new EncryptionCodec(
    await deriveCodecKeys({ currentKey: inject('stack').ENCRYPTION_KEY, previousKeys: [] }),
  );
}

export interface FoundPayload {
  path: string;
  payload: { metadata?: Record<string, string>; data?: string };
}

/** Every payload in a history JSON, with where it is (search attributes included, marked by path). */
export function payloadsIn(json: unknown, path = ''): FoundPayload[] {
  if (Array.isArray(json)) return json.flatMap((v, i) => payloadsIn(v, `${path}[${i}]`));
  if (!json || typeof json !== 'object') return [];
  const o = json as Record<string, unknown>;
  if (
    o.metadata &&
    typeof o.metadata === 'object' &&
    !Array.isArray(o.metadata) &&
    ('data' in o || 'encoding' in (o.metadata as object))
  ) {
    return [{ path, payload: o as FoundPayload['payload'] }];
  }
  return Object.entries(o).flatMap(([k, v]) => payloadsIn(v, path ? `${path}.${k}` : k));
}

export const meta = (p: FoundPayload['payload'], key: string) =>
  Buffer.from(p.metadata?.[key] ?? '', 'base64').toString();
export const toPayload = (p: FoundPayload['payload']): Payload => ({
  metadata: Object.fromEntries(
    Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')]),
  ),
  data: Buffer.from(p.data ?? '', 'base64'),
});

/** A history as stored: its proto JSON, and the raw bytes of every payload as text. */
export async function rawHistory(
  handle: WorkflowHandle,
): Promise<{ json: string; payloads: FoundPayload[]; text: string }> {
  const json = historyToJSON(await handle.fetchHistory());
  const payloads = payloadsIn(JSON.parse(json));
  const bytes = payloads.map((p) => Buffer.from(p.payload.data ?? '', 'base64').toString('latin1'));
  return { json, payloads, text: `${json}\n${bytes.join('\n')}` };
}

/** Every row of every table of every non-system schema, as JSON text. */
export async function allTablesText(pool: pg.Pool): Promise<{ tables: string[]; text: string }> {
  const { rows: tables } = await pool.query<{ schema: string; name: string }>(
    `SELECT table_schema AS schema, table_name AS name FROM information_schema.tables
      WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')`,
  );
  const parts: string[] = [];
  for (const t of tables) {
    const { rows } = await pool.query<{ j: string }>(
      `SELECT row_to_json(t)::text AS j FROM ${pgIdent(t.schema)}.${pgIdent(t.name)} t`,
    );
    parts.push(...rows.map((r) => r.j));
  }
  return { tables: tables.map((t) => `${t.schema}.${t.name}`), text: parts.join('\n') };
}

function pgIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Log lines captured in memory, raw text as written. */
export function memoryLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line.trim()) lines.push(line);
      done();
    },
  });
  return { logger: createLogger({ level: 'trace', destination, pretty: false }), lines };
}

/**
 * What must never appear in clear: the PEM armour, and every base64 line of the given PEMs
 * (catches a PEM however it is quoted or escaped: each line is searched on its own).
 */
export function secretNeedles(pems: string[]): string[] {
  const needles = new Set(['-----BEGIN', 'PRIVATE KEY-----', 'CERTIFICATE-----']);
  for (const pem of pems) {
    for (const line of pem.split('\n')) {
      const body = line.trim();
      if (body && !body.startsWith('-----') && body.length >= 40) needles.add(body.slice(0, 40));
    }
  }
  return [...needles];
}

export function findNeedles(haystack: string, needles: string[]): string[] {
  return needles.filter((n) => haystack.includes(n));
}

/** An active plant and its certificate row holding `stored` (encrypted values), as provisioning leaves them. */
export async function insertActivePlant(
  db: DbHandle['db'],
  name: string,
  stored: { encryptedPrivateKey: string; encryptedCertificatePem: string },
): Promise<{ plantId: string; certificateId: string }> {
  const plantId = `plant-${randomBytes(4).toString('hex')}`;
  const certificateId = randomBytes(32).toString('hex');
  await db.insert(plants).values({
    id: plantId,
    name,
    iotStatus: 'active',
    thingName: `solar-plant-${plantId}`,
    certificateId,
    certificateArn: `arn:aws:iot:us-east-1:123456789012:cert/${certificateId}`,
    policyName: `solar-plant-${plantId}-policy`,
  });
  await db
    .insert(certificates)
    .values({ requestId: `req-${plantId}`, plantId, certificateId, status: 'active', ...stored });
  return { plantId, certificateId };
}
