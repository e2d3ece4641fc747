/**
 * The provisioning harness with the payload codec switched on: a time-skipping environment whose
 * client encrypts, a workflow bundle with the encrypting failure converter, and workers with the
 * same data converter. Plus helpers to look at raw (undecoded) histories and at every table.
 */

import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { Client, type WorkflowHandle } from '@temporalio/client';
import type { DataConverter, Payload } from '@temporalio/common';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type pg from 'pg';
import { inject } from 'vitest';
import { failureConverterPath } from '../../src/codec/data-converter.js';
import { deriveCodecKeys } from '../../src/codec/keys.js';
import { EncryptionCodec } from '../../src/codec/payload-codec.js';
import { createLogger, type Logger } from '../../src/logging/index.js';
import { createWorkers } from '../../src/worker/workers.js';
import { workflowsPath } from '../../src/worker.js';
import { type ActivityOverrides, ProvisioningHarness } from '../support/provisioning-harness.js';
import { registerSearchAttributes } from '../support/temporal.js';

/** The codec every process of the test stack would derive from the test ENCRYPTION_KEY. */
export async function testCodec(): Promise<EncryptionCodec> {
  return new EncryptionCodec(
    await deriveCodecKeys({ currentKey: inject('stack').ENCRYPTION_KEY, previousKeys: [] }),
  );
}

const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };
let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;
/** The workflow bundle as the worker builds it with the codec on (encrypting failure converter). */
export function codecWorkflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflowCode({ workflowsPath, failureConverterPath, logger: quiet });
  return bundle;
}

export async function createCodecTimeSkippingEnv(
  dataConverter: DataConverter,
): Promise<TestWorkflowEnvironment> {
  const path = inject('stack').TEMPORAL_TEST_SERVER_PATH;
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    ...(path ? { server: { executable: { type: 'existing-path', path } } } : {}),
    client: { dataConverter },
  });
  // As createTimeSkippingEnv: the Java test server starts without PlantId / IotStatus.
  await registerSearchAttributes(env).catch(async (error: unknown) => {
    await env.teardown();
    throw error;
  });
  return env;
}

export class CodecHarness extends ProvisioningHarness {
  constructor(
    env: TestWorkflowEnvironment,
    readonly dataConverter: DataConverter,
  ) {
    super(env);
  }

  override async withWorker<T>(
    overrides: ActivityOverrides,
    body: (taskQueue: string) => Promise<T>,
  ): Promise<T> {
    const taskQueue = `secrets-${randomUUID()}`;
    const workers = await createWorkers({
      connection: this.env.nativeConnection,
      taskQueue,
      workflowBundle: await codecWorkflowBundle(),
      dataConverter: this.dataConverter,
      activities: { ...this.realActivities(), ...overrides },
    });
    return workers.runUntil(body(taskQueue));
  }

  /** A client of the same server WITHOUT the codec: what `temporal workflow show` sees. */
  rawClient(): Client {
    return new Client({ connection: this.env.connection, namespace: this.env.namespace ?? 'default' });
  }
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
