/**
 * GET /plants/{id}/telemetry and /telemetry/latest over a listening server, the real PostgreSQL
 * and readings written by the ingest store: exact bucket values, plant isolation, limits.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { plants } from '../../src/db/schema.js';
import type { LatestTelemetryView, TelemetryView } from '../../src/service/telemetry.js';
import { TestStack } from '../support/product-stack.js';
import { storeReadings } from '../support/telemetry.js';

let stack: TestStack;

async function refused(path: string): Promise<{ status: number; code: string; message: string }> {
  const { status, body } = await stack.apiGet<{ error: { code: string; message: string } }>(path);
  return { status, ...body.error };
}

async function newPlant(): Promise<string> {
  const id = `tel-${randomUUID()}`;
  await stack.database.db.insert(plants).values({ id, name: 'Telemetry plant', iotStatus: 'active' });
  return id;
}

const at = (hhmmss: string) => `2024-06-21T${hhmmss}Z`;

let plant = '';
let neighbour = '';

beforeAll(async () => {
  stack = await TestStack.start({ mode: 'disabled' });
  await stack.serveApi();

  plant = await newPlant();
  neighbour = await newPlant();
  const { pool } = stack.database;
  // The bucket's latest reading (12:04:59) is written first: `last` goes by timestamp, not arrival.
  await storeReadings(pool, plant, [
    { deviceId: 'inverter-01', timestamp: at('12:04:59'), metrics: { power_ac: 30 } },
  ]);
  await storeReadings(pool, plant, [
    { deviceId: 'inverter-01', timestamp: at('12:00:00'), metrics: { power_ac: 10, voltage_dc: 300 } },
    { deviceId: 'inverter-01', timestamp: at('12:01:00'), metrics: { power_ac: 20, voltage_dc: 302 } },
    { deviceId: 'inverter-01', timestamp: at('12:05:00'), metrics: { power_ac: 40 } },
    { deviceId: 'inverter-01', timestamp: at('12:09:00'), metrics: { power_ac: 5 } },
    { deviceId: 'inverter-01', timestamp: at('12:15:30'), metrics: { power_ac: 7 } },
    { deviceId: 'inverter-02', timestamp: at('12:02:00'), metrics: { power_ac: 100 } },
    // Outside [from, to) of the queries below.
    { deviceId: 'inverter-01', timestamp: at('12:20:00'), metrics: { power_ac: 1_000 } },
  ]);
  // Another plant with the same device names, at the same instant (issue 14, item 1).
  await storeReadings(pool, neighbour, [
    { deviceId: 'inverter-01', timestamp: at('12:01:00'), metrics: { power_ac: 999 } },
    { deviceId: 'inverter-01', timestamp: at('12:30:00'), metrics: { power_ac: 998 } },
  ]);
});

afterAll(async () => stack?.close());

describe('GET /plants/{id}/telemetry', () => {
  it('answers avg, min, max, last and count per device, metric and 5-minute bucket, empty buckets left out', async () => {
    const { status, body } = await stack.apiGet<TelemetryView>(
      `/plants/${plant}/telemetry?metric=power_ac&from=${at('12:00:00')}&to=${at('12:20:00')}&bucket=5m`,
    );
    expect(status).toBe(200);
    expect(body).toEqual({
      plantId: plant,
      from: '2024-06-21T12:00:00.000Z',
      to: '2024-06-21T12:20:00.000Z',
      bucket: '5m',
      bucketSeconds: 300,
      series: [
        {
          deviceId: 'inverter-01',
          metric: 'power_ac',
          points: [
            { start: at('12:00:00.000'), avg: 20, min: 10, max: 30, last: 30, count: 3 },
            { start: at('12:05:00.000'), avg: 22.5, min: 5, max: 40, last: 5, count: 2 },
            { start: at('12:15:00.000'), avg: 7, min: 7, max: 7, last: 7, count: 1 },
          ],
        },
        {
          deviceId: 'inverter-02',
          metric: 'power_ac',
          points: [{ start: at('12:00:00.000'), avg: 100, min: 100, max: 100, last: 100, count: 1 }],
        },
      ],
    });
  });

  it('aligns buckets on multiples of their size, counting only readings from `from` on; filters by device', async () => {
    const { body } = await stack.apiGet<TelemetryView>(
      `/plants/${plant}/telemetry?device=inverter-01&from=${at('12:01:00')}&to=${at('12:05:00')}&bucket=1h`,
    );
    expect(body.series).toEqual([
      {
        deviceId: 'inverter-01',
        metric: 'power_ac',
        points: [{ start: at('12:00:00.000'), avg: 25, min: 20, max: 30, last: 30, count: 2 }],
      },
      {
        deviceId: 'inverter-01',
        metric: 'voltage_dc',
        points: [{ start: at('12:00:00.000'), avg: 302, min: 302, max: 302, last: 302, count: 1 }],
      },
    ]);
    const other = await stack.apiGet<TelemetryView>(
      `/plants/${neighbour}/telemetry?from=${at('12:00:00')}&to=${at('13:00:00')}&bucket=1h`,
    );
    expect(other.body.series).toEqual([
      {
        deviceId: 'inverter-01',
        metric: 'power_ac',
        points: [{ start: at('12:00:00.000'), avg: 998.5, min: 998, max: 999, last: 998, count: 2 }],
      },
    ]);
  });

  it('defaults to the last 24 hours in 30-minute buckets (at most 60)', async () => {
    const { status, body } = await stack.apiGet<TelemetryView>(`/plants/${plant}/telemetry`);
    expect(status).toBe(200);
    expect(body).toMatchObject({ bucket: '30m', bucketSeconds: 1800, series: [] });
    expect(Date.parse(body.to) - Date.parse(body.from)).toBe(24 * 3_600_000);
  });

  it('refuses with 400 naming the limit: range, buckets, order, formats', async () => {
    const path = `/plants/${plant}/telemetry`;
    expect(await refused(`${path}?from=2023-01-01&to=2024-06-21`)).toMatchObject({
      status: 400,
      code: 'time_range_too_long',
      message: expect.stringMatching(/537 days; at most 366 days/),
    });
    expect(await refused(`${path}?from=${at('12:00:00')}&to=${at('13:00:00')}&bucket=1s`)).toMatchObject({
      status: 400,
      code: 'too_many_buckets',
      message: expect.stringMatching(/3600 buckets; at most 1000 .*at least 5s/),
    });
    expect(await refused(`${path}?from=${at('13:00:00')}&to=${at('12:00:00')}`)).toMatchObject({
      status: 400,
      code: 'invalid_time_range',
    });
    expect(await refused(`${path}?bucket=5 minutes`)).toMatchObject({
      status: 400,
      message: expect.stringMatching(/bucket "5 minutes" is not a duration/),
    });
    expect(await refused(`${path}?from=yesterday`)).toMatchObject({
      status: 400,
      message: expect.stringMatching(/from "yesterday" is not a date-time/),
    });
    expect(await refused(`${path}?metrics=power_ac`)).toMatchObject({ status: 400, code: 'invalid_input' });
  });

  it('refuses with 400 an answer of more than 50000 points, and answers the same range for one metric', async () => {
    const big = await newPlant();
    const metrics = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`m${i}`, i]));
    await storeReadings(
      stack.database.pool,
      big,
      Array.from({ length: 1_000 }, (_, s) => ({
        deviceId: 'inverter-01',
        timestamp: new Date(Date.UTC(2024, 5, 21, 12, 0, s)).toISOString(),
        metrics,
      })),
    );
    const range = `from=${at('12:00:00')}&to=${at('12:16:40')}&bucket=1s`;
    expect(await refused(`/plants/${big}/telemetry?${range}`)).toMatchObject({
      status: 400,
      code: 'too_many_points',
      message: expect.stringMatching(/more than 50000 points/),
    });
    const one = await stack.apiGet<TelemetryView>(`/plants/${big}/telemetry?${range}&metric=m7`);
    expect(one.status).toBe(200);
    expect(one.body.series).toHaveLength(1);
    expect(one.body.series[0]?.points).toHaveLength(1_000);
    expect(one.body.series[0]?.points[999]).toEqual({
      start: at('12:16:39.000'),
      avg: 7,
      min: 7,
      max: 7,
      last: 7,
      count: 1,
    });
  });

  it('answers 404 for an unknown plant', async () => {
    expect(await refused(`/plants/${randomUUID()}/telemetry`)).toMatchObject({
      status: 404,
      code: 'plant_not_found',
    });
  });
});

describe('GET /plants/{id}/telemetry/latest', () => {
  it('answers the latest value of every metric per device, each at its own time', async () => {
    const { status, body } = await stack.apiGet<LatestTelemetryView>(`/plants/${plant}/telemetry/latest`);
    expect(status).toBe(200);
    expect(body).toEqual({
      plantId: plant,
      devices: [
        {
          deviceId: 'inverter-01',
          lastReadingAt: at('12:20:00.000'),
          metrics: [
            { metric: 'power_ac', value: 1_000, timestamp: at('12:20:00.000') },
            { metric: 'voltage_dc', value: 302, timestamp: at('12:01:00.000') },
          ],
        },
        {
          deviceId: 'inverter-02',
          lastReadingAt: at('12:02:00.000'),
          metrics: [{ metric: 'power_ac', value: 100, timestamp: at('12:02:00.000') }],
        },
      ],
    });
  });

  it('holds the metrics a device reported in the 24 hours before its last reading', async () => {
    const id = await newPlant();
    await storeReadings(stack.database.pool, id, [
      {
        deviceId: 'meter-01',
        timestamp: '2024-06-20T11:00:00Z',
        metrics: { energy_total: 1, irradiance: 5 },
      },
      { deviceId: 'meter-01', timestamp: '2024-06-20T13:00:00Z', metrics: { irradiance: 6 } },
      { deviceId: 'meter-01', timestamp: '2024-06-21T12:00:00Z', metrics: { power_ac: 7 } },
    ]);
    const { body } = await stack.apiGet<LatestTelemetryView>(`/plants/${id}/telemetry/latest`);
    expect(body.devices).toEqual([
      {
        deviceId: 'meter-01',
        lastReadingAt: at('12:00:00.000'),
        metrics: [
          // energy_total, 25 hours before, is left out.
          { metric: 'irradiance', value: 6, timestamp: '2024-06-20T13:00:00.000Z' },
          { metric: 'power_ac', value: 7, timestamp: at('12:00:00.000') },
        ],
      },
    ]);
  });

  it('answers no devices for a plant that never sent anything, 404 for an unknown plant', async () => {
    const silent = await newPlant();
    expect(await stack.apiGet(`/plants/${silent}/telemetry/latest`)).toEqual({
      status: 200,
      body: { plantId: silent, devices: [] },
    });
    expect(await refused(`/plants/${randomUUID()}/telemetry/latest`)).toMatchObject({
      status: 404,
      code: 'plant_not_found',
    });
  });
});
