/**
 * `solar-iot quarantine list | replay` through the HTTP API (TestStack.serveApi) over the real
 * PostgreSQL, in-process through `run` with the environment a shell would give it (a DATABASE_URL
 * that points nowhere: the CLI needs only the API and its token), and once as a real process
 * through `npm run cli`. The routes themselves: test/api/quarantine.test.ts.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/io.js';
import { MAX_QUARANTINE_PAGE, MAX_QUARANTINE_REPLAY } from '../../src/service/quarantine.js';
import { ran } from '../support/child.js';
import { runCli } from '../support/cli.js';
import { TestStack } from '../support/product-stack.js';
import { deviceMessage as device, quarantined } from '../support/quarantine.js';

let stack: TestStack;
let env: Record<string, string | undefined>;

const cli = (argv: string[]) => runCli(argv, env);

const pool = () => stack.database.pool;

beforeAll(async () => {
  stack = await TestStack.start({ mode: 'disabled', worker: false });
  env = { ...stack.env, ...(await stack.serveApi()), DATABASE_URL: 'postgres://nobody@127.0.0.1:1/nowhere' };
});
afterAll(async () => stack?.close());

describe('solar-iot quarantine', () => {
  it('lists quarantined messages grouped by reason, and the messages of one reason', async () => {
    const plant = `cli-q-${randomUUID()}`;
    const a = await quarantined(
      stack.database.pool,
      `{"plant": "${plant}", `,
      'invalid_json: Unexpected end of JSON input',
    );
    const b = await quarantined(
      stack.database.pool,
      `{"plant": "${plant}", "x": `,
      'invalid_json: Unexpected end of JSON input',
    );
    const c = await quarantined(
      stack.database.pool,
      device(plant, 'yesterday'),
      'bad_timestamp: timestamp "yesterday" is not ISO',
    );

    const grouped = await cli(['--json', 'quarantine', 'list']);
    expect(grouped.code).toBe(EXIT.ok);
    const reasons = JSON.parse(grouped.stdout).reasons as { reason: string; count: number }[];
    expect(reasons.find((r) => r.reason === 'invalid_json')?.count).toBeGreaterThanOrEqual(2);
    expect(reasons.find((r) => r.reason === 'bad_timestamp')?.count).toBeGreaterThanOrEqual(1);
    const human = await cli(['quarantine', 'list']);
    expect(human.stdout).toMatch(/REASON.*COUNT/);
    expect(human.stdout).toMatch(/invalid_json/);

    const one = await cli(['--json', 'quarantine', 'list', '--reason', 'invalid_json', '--limit', '500']);
    expect(one.code).toBe(EXIT.ok);
    const items = JSON.parse(one.stdout).items as { id: string; reason: string; body: string }[];
    expect(items.every((i) => i.reason === 'invalid_json')).toBe(true);
    const ids = items.map((i) => i.id);
    expect(ids).toEqual(expect.arrayContaining([a, b]));
    expect(ids).not.toContain(c);
    const text = await cli(['quarantine', 'list', '--reason', 'bad_timestamp', '--limit', '500']);
    expect(text.stdout).toContain(c);

    const wrong = await cli(['quarantine', 'list', '--reason', 'no_such_reason']);
    expect(wrong.code).toBe(EXIT.usage);
  });

  it('replays selected messages: stores what is now valid, updates the reason of what is not', async () => {
    const plant = `cli-q-${randomUUID()}`;
    // Quarantined as future when it came, its time has come (2024); replay stores it.
    const nowValid = await quarantined(
      stack.database.pool,
      device(plant, '2024-06-21T12:00:00Z'),
      'future_timestamp: timestamp "2024-06-21T12:00:00Z" is 10 min ahead',
    );
    const stillBad = await quarantined(
      stack.database.pool,
      device(plant, '2024-06-21T12:01:00Z', { power_ac: 'N/A' }),
      'invalid_json: an older detail',
    );
    const prefixOnly = await quarantined(
      stack.database.pool,
      device(plant, '2024-06-21T12:02:00Z').slice(0, 40),
      'oversized_body: 900000 bytes, limit 131072',
      {
        truncated: true,
      },
    );

    const ran = await cli(['--json', 'quarantine', 'replay', nowValid, stillBad, prefixOnly]);
    expect(ran.code).toBe(EXIT.ok);
    const results = JSON.parse(ran.stdout).results as { id: string; result: string; reason: string | null }[];
    expect(Object.fromEntries(results.map((r) => [r.id, r.result]))).toEqual({
      [nowValid]: 'stored',
      [stillBad]: 'still_invalid',
      [prefixOnly]: 'not_replayable',
    });

    // Stored through the normal write path, and gone from the quarantine.
    const raw = await pool().query('SELECT 1 FROM raw_mqtt_data WHERE plant_id = $1', [plant]);
    expect(raw.rowCount).toBe(1);
    const processed = await pool().query(
      `SELECT device_id, tag_id, value FROM processed_data WHERE plant_id = $1`,
      [plant],
    );
    expect(processed.rows).toEqual([{ device_id: 'inverter-01', tag_id: 'power_ac', value: 4200 }]);
    const left = await pool().query<{ id: string; reason: string }>(
      'SELECT id::text, reason FROM quarantine WHERE id = ANY($1::bigint[]) ORDER BY id',
      [[nowValid, stillBad, prefixOnly]],
    );
    expect(left.rows).toEqual([
      { id: stillBad, reason: 'non_numeric_metric: metrics.power_ac is "N/A", not a finite number' },
      { id: prefixOnly, reason: 'oversized_body: 900000 bytes, limit 131072' },
    ]);

    // By reason; a second replay of what is stored finds nothing, an unknown id is "not found".
    const byReason = await cli(['quarantine', 'replay', '--reason', 'non_numeric_metric']);
    expect(byReason.code).toBe(EXIT.ok);
    expect(byReason.stdout).toMatch(new RegExp(`${stillBad}.*still_invalid`));
    const missing = await cli(['quarantine', 'replay', nowValid]);
    expect(missing.code).toBe(EXIT.notFound);
    expect(missing.stderr).toMatch(new RegExp(`${nowValid}`));
    expect((await cli(['quarantine', 'replay'])).code).toBe(EXIT.usage);
    expect((await cli(['quarantine', 'replay', 'abc'])).code).toBe(EXIT.usage);
  });

  it('follows the API pages up to --limit: lists and replays more than one call answers', async () => {
    const plant = `cli-q-${randomUUID()}`;
    // Still invalid whatever the settings (no deviceId): replay leaves them, once each.
    const { rows } = await pool().query<{ id: string }>(
      `INSERT INTO quarantine (message_id, body, reason, body_bytes, body_sha256)
       SELECT $1 || g, format('{"plantId": "%s", "timestamp": "2024-06-21T12:00:00Z", "metrics": {"p": %s}}', $2::text, g),
              'missing_field: deviceId', 80, 'not-checked'
         FROM generate_series(1, $3::int) g RETURNING id::text`,
      [`cli-q-${randomUUID()}-`, plant, MAX_QUARANTINE_PAGE + 10],
    );
    const ids = rows.map((r) => r.id);

    const listed = await cli([
      '--json',
      'quarantine',
      'list',
      '--reason',
      'missing_field',
      '--limit',
      '10000',
    ]);
    expect(listed.code).toBe(EXIT.ok);
    const items = (JSON.parse(listed.stdout).items as { id: string }[]).map((i) => i.id);
    expect(items).toEqual(expect.arrayContaining(ids));
    expect(new Set(items).size).toBe(items.length);
    const three = await cli(['--json', 'quarantine', 'list', '--reason', 'missing_field', '--limit', '3']);
    expect(JSON.parse(three.stdout).items).toHaveLength(3);

    const two = await cli(['--json', 'quarantine', 'replay', '--reason', 'missing_field', '--limit', '2']);
    expect(two.code).toBe(EXIT.ok);
    expect(JSON.parse(two.stdout).results).toHaveLength(2);
    expect(ids.length).toBeGreaterThan(MAX_QUARANTINE_REPLAY);
    const all = await cli([
      '--json',
      'quarantine',
      'replay',
      '--reason',
      'missing_field',
      '--limit',
      '10000',
    ]);
    expect(all.code).toBe(EXIT.ok);
    const results = JSON.parse(all.stdout).results as { id: string; result: string }[];
    expect(results.map((r) => r.id)).toEqual(expect.arrayContaining(ids));
    expect(new Set(results.map((r) => r.id)).size).toBe(results.length);
    for (const r of results.filter((x) => ids.includes(x.id))) expect(r.result).toBe('still_invalid');
    await pool().query('DELETE FROM quarantine WHERE id = ANY($1::bigint[])', [ids]);
  });

  it('runs as a real process through npm run cli', async () => {
    const real = await ran(['npm', 'run', '-s', 'cli', '--', '--json', 'quarantine', 'list'], {
      env: { ...env, NO_COLOR: '1' },
    });
    expect(real.stderr).toBe('');
    expect(real.code).toBe(EXIT.ok);
    expect(Array.isArray(JSON.parse(real.stdout).reasons)).toBe(true);
  });
});
