/** `solar-iot telemetry` against the real PostgreSQL, with readings written by the ingest store. */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/io.js';
import { plants } from '../../src/db/schema.js';
import type { TelemetryView } from '../../src/service/telemetry.js';
import { runCli } from '../support/cli.js';
import { TestStack } from '../support/product-stack.js';
import { storeReadings } from '../support/telemetry.js';

let stack: TestStack;
let plant = '';

const cli = (argv: string[], tty = false) => runCli(argv, { ...stack.env, ...stack.apiEnv }, { tty });

const at = (hhmm: string) => `2024-06-21T${hhmm}:00Z`;
const RANGE = ['--from', at('12:00'), '--to', at('12:30'), '--bucket', '5m'];

beforeAll(async () => {
  stack = await TestStack.start({ mode: 'disabled' });
  await stack.serveApi();
  plant = `cli-tel-${randomUUID()}`;
  await stack.database.db.insert(plants).values({ id: plant, name: 'CLI telemetry', iotStatus: 'active' });
  // power_ac bucket averages: 0, 10, (none), 30, 70, 70; voltage_dc flat.
  await storeReadings(stack.database.pool, plant, [
    { deviceId: 'inverter-01', timestamp: at('12:00'), metrics: { power_ac: 0, voltage_dc: 300 } },
    { deviceId: 'inverter-01', timestamp: at('12:05'), metrics: { power_ac: 5, voltage_dc: 300 } },
    { deviceId: 'inverter-01', timestamp: at('12:06'), metrics: { power_ac: 15 } },
    { deviceId: 'inverter-01', timestamp: at('12:15'), metrics: { power_ac: 30 } },
    { deviceId: 'inverter-01', timestamp: at('12:20'), metrics: { power_ac: 70 } },
    { deviceId: 'inverter-01', timestamp: at('12:25'), metrics: { power_ac: 70 } },
  ]);
});

afterAll(async () => stack?.close());

describe('solar-iot telemetry', () => {
  it('prints one row per device and metric: last, min, avg, max, readings; no sparkline off a terminal', async () => {
    const ran = await cli(['telemetry', plant, ...RANGE]);
    expect(ran.code).toBe(EXIT.ok);
    const lines = ran.stdout.split('\n');
    expect(lines[0]).toBe(`${plant}: 2024-06-21T12:00:00.000Z .. 2024-06-21T12:30:00.000Z, 5m buckets`);
    const cells = (line: string | undefined) =>
      (line ?? '')
        .split('│')
        .map((c) => c.trim())
        .filter(Boolean);
    expect(cells(lines.find((l) => l.includes('DEVICE')))).toEqual([
      'DEVICE',
      'METRIC',
      'LAST',
      'MIN',
      'AVG',
      'MAX',
      'READINGS',
    ]);
    expect(cells(lines.find((l) => l.includes('power_ac')))).toEqual([
      'inverter-01',
      'power_ac',
      '70',
      '0',
      '31.6667',
      '70',
      '6',
    ]);
    expect(cells(lines.find((l) => l.includes('voltage_dc')))).toEqual([
      'inverter-01',
      'voltage_dc',
      '300',
      '300',
      '300',
      '300',
      '2',
    ]);
  });

  it('draws a sparkline of the bucket averages per device and metric when stdout is a terminal', async () => {
    const ran = await cli(['telemetry', plant, ...RANGE], true);
    expect(ran.code).toBe(EXIT.ok);
    expect(ran.stdout).toContain('TREND');
    expect(ran.stdout).toContain('▁▂ ▄██');
    expect(ran.stdout).toContain('▄▄    ');
  });

  it('draws a sparkline of averages at the limits of a double, without "undefined" or NaN', async () => {
    const extreme = `cli-tel-${randomUUID()}`;
    await stack.database.db.insert(plants).values({ id: extreme, name: 'Extremes', iotStatus: 'active' });
    await storeReadings(stack.database.pool, extreme, [
      { deviceId: 'meter', timestamp: at('12:00'), metrics: { power_ac: -Number.MAX_VALUE } },
      { deviceId: 'meter', timestamp: at('12:05'), metrics: { power_ac: Number.MAX_VALUE } },
      { deviceId: 'meter', timestamp: at('12:06'), metrics: { power_ac: Number.MAX_VALUE } },
      { deviceId: 'meter', timestamp: at('12:10'), metrics: { power_ac: 0 } },
    ]);
    const ran = await cli(['telemetry', extreme, ...RANGE], true);
    expect(ran.code).toBe(EXIT.ok);
    expect(ran.stdout).not.toMatch(/undefined|NaN|Infinity/);
    expect(ran.stdout).toContain('▁█▅   ');
  });

  it('--json prints what the library answers; --metric and --device filter', async () => {
    const ran = await cli([
      '--json',
      'telemetry',
      plant,
      ...RANGE,
      '--metric',
      'voltage_dc',
      '--device',
      'inverter-01',
    ]);
    expect(ran.code).toBe(EXIT.ok);
    const view = JSON.parse(ran.stdout) as TelemetryView;
    expect(view).toEqual(
      await stack.solarIot.getTelemetry(plant, {
        from: at('12:00'),
        to: at('12:30'),
        bucket: '5m',
        metric: 'voltage_dc',
        device: 'inverter-01',
      }),
    );
    expect(view.series.map((s) => s.metric)).toEqual(['voltage_dc']);
  });

  it('--from takes a duration ago; --latest prints the latest value of every metric', async () => {
    const recent = await cli(['--json', 'telemetry', plant, '--from', '6h']);
    const view = JSON.parse(recent.stdout) as TelemetryView;
    expect(Date.parse(view.to) - Date.parse(view.from)).toBeGreaterThanOrEqual(6 * 3_600_000);
    expect(Date.parse(view.to) - Date.parse(view.from)).toBeLessThan(6 * 3_600_000 + 60_000);
    expect(view.series).toEqual([]);

    const latest = await cli(['telemetry', plant, '--latest']);
    expect(latest.code).toBe(EXIT.ok);
    expect(latest.stdout).toMatch(/inverter-01\s+│\s+power_ac\s+│\s+70\s+│\s+2024-06-21T12:25:00.000Z/);
    expect(latest.stdout).toMatch(/inverter-01\s+│\s+voltage_dc\s+│\s+300\s+│\s+2024-06-21T12:05:00.000Z/);
  });

  it('exits 2 with a clear message for hostile --from, --to and --bucket, never crashes', async () => {
    for (const argv of [
      ['--from', '999999999d'],
      ['--from', '0s'],
      ['--from', '2024-02-30T00:00:00Z', '--to', '2024-03-02T00:00:00Z'],
      ['--from', at('12:30'), '--to', at('12:00')],
      ['--to', '0001-01-01T00:00:00Z'],
      ['--bucket', '999999999d'],
      ['--bucket', '0s'],
      ['--metric', 'power\u0000ac'],
    ]) {
      const ran = await cli(['telemetry', plant, ...argv]);
      expect({ argv, code: ran.code }).toEqual({ argv, code: EXIT.usage });
      expect(ran.stderr).not.toMatch(/RangeError|Invalid time value|internal/i);
    }
  });

  it('exits 2 naming the limit a request breaks, 3 for an unknown plant', async () => {
    const tooMany = await cli([
      'telemetry',
      plant,
      '--from',
      at('12:00'),
      '--to',
      at('13:00'),
      '--bucket',
      '1s',
    ]);
    expect(tooMany.code).toBe(EXIT.usage);
    expect(tooMany.stderr).toMatch(/3600 buckets; at most 1000/);
    const unknown = await cli(['telemetry', randomUUID()]);
    expect(unknown.code).toBe(EXIT.notFound);
  });
});
