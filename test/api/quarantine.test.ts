/**
 * The ingest consumer's quarantine through the HTTP API (issue 14 item 4, reached through the API
 * since issue 17): GET /telemetry/quarantine (count by reason), GET /telemetry/quarantine/messages
 * (bounded pages), POST /telemetry/quarantine/replay (today's validation, the consumer's write
 * path), on rows this file writes into the real PostgreSQL. Other files share the table, so every
 * check looks at this file's own rows (a cursor just before them, their ids).
 */
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OpenApiDocument } from '../../src/api/openapi.js';
import { buildServer } from '../../src/api/server.js';
import { createApiClient } from '../../src/api-client/client.js';
import {
  MAX_QUARANTINE_PAGE,
  MAX_QUARANTINE_REPLAY,
  QUARANTINE_PAGE_BODY_BYTES,
  type QuarantinePage,
  type QuarantineReplay,
  type QuarantineSummary,
} from '../../src/service/quarantine.js';
import { createSolarIot } from '../../src/service/solar-iot.js';
import { TestStack } from '../support/product-stack.js';
import { quarantined, deviceMessage as reading } from '../support/quarantine.js';

let stack: TestStack;
let TOKEN = '';
let base = '';
/** The same database and Temporal, validating with INGEST_MAX_FUTURE_SECONDS=7200. */
let wideBase = '';
let closeWide: () => Promise<void> = async () => undefined;

const call = <T>(
  method: string,
  path: string,
  options: { body?: unknown; raw?: string; token?: string | null; at?: string } = {},
) =>
  stack.api<T>(method, path, {
    json: options.body,
    body: options.raw,
    token: options.token,
    base: options.at,
  });

type ErrorAnswer = { error: { code: string; message: string } };

/** The id just before `id`: a cursor whose page starts at `id`. */
const cursorBefore = (id: string) => String(BigInt(id) - 1n);

beforeAll(async () => {
  stack = await TestStack.start({ mode: 'disabled', worker: false });
  const api = await stack.serveApi();
  base = api.SOLAR_IOT_API_URL ?? '';
  TOKEN = api.SOLAR_IOT_API_TOKEN ?? '';
  const solarIot = createSolarIot({
    config: stack.config,
    temporal: stack.temporal,
    db: stack.database.db,
    ingestValidation: { maxBodyBytes: 131_072, maxFutureSeconds: 7_200 },
  });
  const wide = buildServer({ solarIot, settings: { token: TOKEN } });
  await wide.app.listen({ port: 0, host: '127.0.0.1' });
  closeWide = () => wide.app.close();
  wideBase = `http://127.0.0.1:${(wide.app.server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await closeWide();
  await stack?.close();
});

describe('quarantine API', () => {
  it('refuses every quarantine route without the API token, and documents them as protected', async () => {
    const routes = [
      ['GET', '/telemetry/quarantine'],
      ['GET', '/telemetry/quarantine/messages'],
      ['POST', '/telemetry/quarantine/replay'],
    ] as const;
    const doc = (await call<OpenApiDocument>('GET', '/openapi.json', { token: null })).body;
    for (const [method, path] of routes) {
      const body = method === 'POST' ? { ids: ['1'] } : undefined;
      for (const token of [null, 'not-the-token-at-all']) {
        const refused = await call<ErrorAnswer>(method, path, { token, body });
        expect(refused.status, `${method} ${path}`).toBe(401);
        expect(refused.body.error.code).toBe('unauthorized');
      }
      const operation = doc.paths[path]?.[method.toLowerCase()] as { security: unknown[] } | undefined;
      expect(operation?.security.length, `${method} ${path}`).toBeGreaterThan(0);
    }
  });

  it('counts messages by reason with the oldest and newest, and pages the messages of one reason', async () => {
    const plant = `api-q-${randomUUID()}`;
    const ids: string[] = [];
    for (let i = 0; i < 5; i++)
      ids.push(
        await quarantined(
          stack.database.pool,
          `{"plant": "${plant}", "n": ${i}`,
          'invalid_json: Unexpected end',
        ),
      );
    const other = await quarantined(
      stack.database.pool,
      reading(plant, 'yesterday'),
      'bad_timestamp: "yesterday" is not ISO',
    );

    const summary = await call<QuarantineSummary>('GET', '/telemetry/quarantine');
    expect(summary.status).toBe(200);
    const json = summary.body.reasons.find((r) => r.reason === 'invalid_json');
    expect(json?.count).toBeGreaterThanOrEqual(5);
    expect(Date.parse(json?.oldest ?? '')).toBeLessThanOrEqual(Date.parse(json?.newest ?? ''));
    expect(summary.body.reasons.map((r) => r.reason)).toContain('bad_timestamp');

    // Two at a time from just before this test's rows: every one once, in id order, other reasons left out.
    const seen: string[] = [];
    let cursor: string | null = cursorBefore(ids[0] ?? '');
    while (cursor !== null && seen.length < ids.length) {
      const page: { status: number; body: QuarantinePage } = await call<QuarantinePage>(
        'GET',
        `/telemetry/quarantine/messages?reason=invalid_json&limit=2&cursor=${cursor}`,
      );
      expect(page.status).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(2);
      for (const m of page.body.items) expect(m.reason).toBe('invalid_json');
      seen.push(...page.body.items.map((m) => m.id).filter((id) => ids.includes(id)));
      cursor = page.body.nextCursor;
    }
    expect(seen).toEqual(ids);
    const first = (
      await call<QuarantinePage>(
        'GET',
        `/telemetry/quarantine/messages?limit=1&cursor=${cursorBefore(ids[0] ?? '')}`,
      )
    ).body.items[0];
    expect(first).toMatchObject({
      id: ids[0],
      reason: 'invalid_json',
      detail: 'Unexpected end',
      body: `{"plant": "${plant}", "n": 0`,
      truncated: false,
    });
    expect(Date.parse(first?.receivedAt ?? '')).not.toBeNaN();
    const bad = await call<QuarantinePage>(
      'GET',
      `/telemetry/quarantine/messages?reason=bad_timestamp&cursor=${cursorBefore(other)}`,
    );
    expect(bad.body.items.map((m) => m.id)).toContain(other);
  });

  it(`never answers a page of more than ${MAX_QUARANTINE_PAGE} messages or about ${QUARANTINE_PAGE_BODY_BYTES} bytes of bodies`, async () => {
    // Bodies as large as INGEST_MAX_BODY_BYTES allows (1 MiB), under a reason few rows have.
    const big = (i: number) => `{"pad": "${String(i).repeat(1_048_000)}"`;
    const ids: string[] = [];
    for (let i = 0; i < 6; i++)
      ids.push(await quarantined(stack.database.pool, big(i), 'db_rejected: value too long'));
    const res = await fetch(
      `${base}/telemetry/quarantine/messages?reason=db_rejected&limit=${MAX_QUARANTINE_PAGE}&cursor=${cursorBefore(ids[0] ?? '')}`,
      { headers: { authorization: `Bearer ${TOKEN}` } },
    );
    const text = await res.text();
    expect(res.status).toBe(200);
    // At most the budget plus the one body that crossed it (and the JSON around them).
    expect(Buffer.byteLength(text)).toBeLessThan(QUARANTINE_PAGE_BODY_BYTES + 1_048_576 + 64 * 1024);
    const page = JSON.parse(text) as QuarantinePage;
    expect(page.items.length).toBeGreaterThan(0);
    expect(page.items.length).toBeLessThan(ids.length);
    expect(page.nextCursor).toBe(page.items.at(-1)?.id);
    const rest = await call<QuarantinePage>(
      'GET',
      `/telemetry/quarantine/messages?reason=db_rejected&limit=${MAX_QUARANTINE_PAGE}&cursor=${page.nextCursor}`,
    );
    // The next page goes on where this one stopped: each of the six once, in order.
    const both = [...page.items, ...rest.body.items].map((m) => m.id);
    expect(both.filter((id) => ids.includes(id))).toEqual(ids);
    await stack.database.pool.query('DELETE FROM quarantine WHERE id = ANY($1::bigint[])', [ids]);
  });

  it('answers 400 naming what is wrong for hostile or contradictory input', async () => {
    const listing = [
      'limit=0',
      `limit=${MAX_QUARANTINE_PAGE + 1}`,
      'limit=1e3',
      'limit=abc',
      'cursor=abc',
      'cursor=-1',
      `cursor=${'9'.repeat(19)}`,
      'reason=no_such_reason',
      'reason=invalid_json%27%3B%20DROP%20TABLE%20quarantine%3B--',
      'unknown=1',
    ];
    for (const query of listing) {
      const { status, body } = await call<ErrorAnswer>('GET', `/telemetry/quarantine/messages?${query}`);
      expect(status, query).toBe(400);
      expect(body.error.message.length, query).toBeLessThan(400);
    }
    const replays: unknown[] = [
      {},
      { ids: [] },
      { ids: ['1'], reason: 'invalid_json' },
      { ids: Array.from({ length: MAX_QUARANTINE_REPLAY + 1 }, (_, i) => String(i + 1)) },
      { ids: ['abc'] },
      { ids: [1] },
      { ids: ['1'.repeat(19)] },
      { ids: ['1'], limit: 5 },
      { ids: ['1'], cursor: '5' },
      { reason: 'no_such_reason' },
      { reason: 'invalid_json', limit: 0 },
      { reason: 'invalid_json', limit: MAX_QUARANTINE_REPLAY + 1 },
      { reason: 'invalid_json', cursor: 'x' },
      { reason: 'invalid_json', extra: true },
      ['1'],
      'invalid_json',
    ];
    for (const body of replays) {
      const answer = await call<ErrorAnswer>('POST', '/telemetry/quarantine/replay', { body });
      expect(answer.status, JSON.stringify(body).slice(0, 80)).toBe(400);
    }
    const neither = await call<ErrorAnswer>('POST', '/telemetry/quarantine/replay', { body: {} });
    expect(neither.body.error.message).toMatch(/ids.*reason/);
    const garbage = await call<ErrorAnswer>('POST', '/telemetry/quarantine/replay', { raw: '{"ids": [' });
    expect(garbage.status).toBe(400);
  });

  it('replays a fixed message into the tables and deletes its row; a still invalid one stays', async () => {
    const plant = `api-q-${randomUUID()}`;
    // Quarantined as future when it came; its time has come (2024): today's validation stores it.
    const fixed = await quarantined(
      stack.database.pool,
      reading(plant, '2024-06-21T12:00:00Z'),
      'future_timestamp: timestamp "2024-06-21T12:00:00Z" is 10 min ahead',
    );
    const stillBad = await quarantined(
      stack.database.pool,
      reading(plant, '2024-06-21T12:01:00Z', { power_ac: 'N/A' }),
      'invalid_json: an older detail',
    );
    const prefixOnly = await quarantined(
      stack.database.pool,
      reading(plant, '2024-06-21T12:02:00Z').slice(0, 40),
      'oversized_body: 900000 bytes',
      {
        truncated: true,
      },
    );
    const gone = String(BigInt(fixed) + 1_000_000_000n);

    const replayed = await call<QuarantineReplay>('POST', '/telemetry/quarantine/replay', {
      body: { ids: [fixed, stillBad, prefixOnly, gone] },
    });
    expect(replayed.status).toBe(200);
    expect(Object.fromEntries(replayed.body.results.map((r) => [r.id, r.result]))).toEqual({
      [fixed]: 'stored',
      [stillBad]: 'still_invalid',
      [prefixOnly]: 'not_replayable',
    });
    expect(replayed.body.missing).toEqual([gone]);

    const raw = await stack.database.pool.query('SELECT 1 FROM raw_mqtt_data WHERE plant_id = $1', [plant]);
    expect(raw.rowCount).toBe(1);
    const processed = await stack.database.pool.query(
      'SELECT device_id, tag_id, value FROM processed_data WHERE plant_id = $1',
      [plant],
    );
    expect(processed.rows).toEqual([{ device_id: 'inverter-01', tag_id: 'power_ac', value: 4200 }]);
    const left = await stack.database.pool.query<{ id: string; reason: string }>(
      'SELECT id::text, reason FROM quarantine WHERE id = ANY($1::bigint[]) ORDER BY id',
      [[fixed, stillBad, prefixOnly]],
    );
    expect(left.rows).toEqual([
      { id: stillBad, reason: 'non_numeric_metric: metrics.power_ac is "N/A", not a finite number' },
      { id: prefixOnly, reason: 'oversized_body: 900000 bytes' },
    ]);

    // Replayed again: the row is gone, so it is missing, and nothing is written twice.
    const again = await call<QuarantineReplay>('POST', '/telemetry/quarantine/replay', {
      body: { ids: [fixed] },
    });
    expect(again.body).toEqual({ results: [], missing: [fixed], nextCursor: null });
  });

  it("validates as the consumer is configured: INGEST_MAX_FUTURE_SECONDS of the API's environment", async () => {
    const plant = `api-q-${randomUUID()}`;
    const inAnHour = new Date(Date.now() + 3_600_000).toISOString();
    const id = await quarantined(
      stack.database.pool,
      reading(plant, inAnHour),
      `future_timestamp: ${inAnHour} is 60 min ahead`,
    );
    const strict = await call<QuarantineReplay>('POST', '/telemetry/quarantine/replay', {
      body: { ids: [id] },
    });
    expect(strict.body.results).toEqual([
      {
        id,
        result: 'still_invalid',
        reason: expect.stringMatching(/^future_timestamp: .*INGEST_MAX_FUTURE_SECONDS=300/),
      },
    ]);
    const wide = await call<QuarantineReplay>('POST', '/telemetry/quarantine/replay', {
      body: { ids: [id] },
      at: wideBase,
    });
    expect(wide.body.results).toEqual([{ id, result: 'stored', reason: null }]);
  });

  it('replays by reason a bounded number per call, continuing after the cursor it answers', async () => {
    const plant = `api-q-${randomUUID()}`;
    // Still invalid whatever the settings (no deviceId): they stay, and must not be replayed twice.
    const ids: string[] = [];
    for (let i = 0; i < 5; i++)
      ids.push(
        await quarantined(
          stack.database.pool,
          JSON.stringify({ plantId: plant, timestamp: '2024-06-21T12:00:00Z', metrics: { p: i } }),
          'missing_field: deviceId',
        ),
      );
    const replayedIds: string[] = [];
    let cursor: string | null = cursorBefore(ids[0] ?? '');
    while (cursor !== null && !replayedIds.includes(ids.at(-1) ?? '')) {
      const page: { status: number; body: QuarantineReplay } = await call<QuarantineReplay>(
        'POST',
        '/telemetry/quarantine/replay',
        { body: { reason: 'missing_field', limit: 2, cursor } },
      );
      expect(page.status).toBe(200);
      expect(page.body.results.length).toBeLessThanOrEqual(2);
      replayedIds.push(...page.body.results.map((r) => r.id));
      for (const r of page.body.results) expect(r.result).toBe('still_invalid');
      cursor = page.body.nextCursor;
    }
    expect(replayedIds.filter((id) => ids.includes(id))).toEqual(ids);
    expect(new Set(replayedIds).size).toBe(replayedIds.length);
  });

  it('is in the library (src/api-client) with the same answers', async () => {
    const plant = `api-q-${randomUUID()}`;
    const id = await quarantined(
      stack.database.pool,
      reading(plant, '2024-06-21T13:00:00Z'),
      'future_timestamp: was ahead',
    );
    const client = createApiClient({ url: base, token: TOKEN });
    expect((await client.getQuarantineSummary()).reasons.map((r) => r.reason)).toContain('future_timestamp');
    const page = await client.listQuarantinedMessages({
      reason: 'future_timestamp',
      cursor: cursorBefore(id),
      limit: 1,
    });
    expect(page.items.map((m) => m.id)).toEqual([id]);
    expect(await client.replayQuarantined({ ids: [id] })).toEqual({
      results: [{ id, result: 'stored', reason: null }],
      missing: [],
      nextCursor: null,
    });
    await expect(client.replayQuarantined({ ids: [] })).rejects.toMatchObject({ kind: 'invalid' });
  });
});
