/**
 * Hostile query parameters for the read API (GET /plants/{id}/telemetry, GET /plants?silentFor=)
 * over a listening server and the real PostgreSQL: every one answers 200 or a clear 400, never a
 * 500, and a query never reaches another plant's readings.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { plants } from '../../src/db/schema.js';
import type { TelemetryView } from '../../src/service/telemetry.js';
import { TestStack } from '../support/product-stack.js';
import { storeReadings } from '../support/telemetry.js';

let stack: TestStack;

type ErrorBody = { error: { code: string; message: string } };

async function newPlant(): Promise<string> {
  const id = `tel-${randomUUID()}`;
  await stack.database.db.insert(plants).values({ id, name: 'Hostile query plant', iotStatus: 'active' });
  return id;
}

let plant = '';
let neighbour = '';

beforeAll(async () => {
  stack = await TestStack.start({ mode: 'disabled' });
  await stack.serveApi();
  plant = await newPlant();
  neighbour = await newPlant();
  await storeReadings(stack.database.pool, plant, [
    { deviceId: 'inverter-01', timestamp: '2024-02-29T23:30:00Z', metrics: { power_ac: 1 } },
    { deviceId: 'inverter-01', timestamp: '2024-03-01T00:00:00Z', metrics: { power_ac: 2 } },
  ]);
  await storeReadings(stack.database.pool, neighbour, [
    { deviceId: 'inverter-01', timestamp: '2024-02-29T23:30:00Z', metrics: { power_ac: 666 } },
  ]);
});

afterAll(async () => stack?.close());

describe('GET /plants/{id}/telemetry with hostile parameters', () => {
  it('answers a bucket of 0, negative, in ms, fractional or empty with 400', async () => {
    for (const bucket of ['0s', '0m', '-5m', '1ms', '1.5m', '', '5', 'm', '1e3s', '5M']) {
      const { status, body } = await stack.apiGet<ErrorBody>(
        `/plants/${plant}/telemetry?bucket=${encodeURIComponent(bucket)}`,
      );
      expect({ bucket, status, code: body.error?.code }).toMatchObject({ bucket, status: 400 });
    }
  });

  it('answers a bucket too large for PostgreSQL (999999999d) with 400, not 500', async () => {
    const { status, body } = await stack.apiGet<ErrorBody>(
      `/plants/${plant}/telemetry?from=2024-02-29&to=2024-03-02&bucket=999999999d`,
    );
    expect({ status, code: body.error?.code }).toMatchObject({ status: 400 });
    expect(body.error.message).toMatch(/bucket/);
  });

  it('answers one bucket of 1000 days with every reading in it', async () => {
    const { status, body } = await stack.apiGet<TelemetryView>(
      `/plants/${plant}/telemetry?from=2024-02-29&to=2024-03-02&bucket=1000d`,
    );
    expect(status).toBe(200);
    expect(body.series).toHaveLength(1);
    expect(body.series[0]?.points.map((p) => p.count)).toEqual([2]);
  });

  it('answers from..to inverted, empty, or not a calendar date with 400', async () => {
    for (const q of [
      'from=2024-03-01&to=2024-02-29',
      'from=2024-03-01T00:00:00Z&to=2024-03-01T00:00:00Z',
      // Date.parse would bend these to another day rather than refuse them.
      'from=2024-02-30&to=2024-03-05',
      'from=2024-02-31T00:00:00Z&to=2024-03-05T00:00:00Z',
      'from=2024-02-28T24:00:00Z&to=2024-03-05T00:00:00Z',
      'from=2024-13-01&to=2025-01-05',
      'from=2024-02-28T12:60:00Z&to=2024-03-05T00:00:00Z',
      'from=2024-02-28T12:00:00%2B25:00&to=2024-03-05T00:00:00Z',
      'from=now&to=2024-03-05',
      'from=1709251200&to=2024-03-05',
    ]) {
      const { status, body } = await stack.apiGet<ErrorBody>(`/plants/${plant}/telemetry?${q}`);
      expect({ q, status, code: body.error?.code }).toMatchObject({ q, status: 400 });
    }
  });

  it('answers ranges in year 0000, 0001 and 9999 with 400 or an empty 200, never 500', async () => {
    for (const q of [
      'from=0000-01-01&to=0000-01-02',
      'to=0001-01-01T00:00:00Z',
      'from=0001-01-01&to=0001-01-02',
      'from=9999-12-30&to=9999-12-31T23:59:59Z',
    ]) {
      const { status, body } = await stack.apiGet<TelemetryView & ErrorBody>(
        `/plants/${plant}/telemetry?${q}`,
      );
      expect({ q, status }).toMatchObject({ q, status: expect.toBeOneOf([200, 400]) });
      if (status === 200) expect(body.series).toEqual([]);
    }
  });

  it('reads a range given in another time zone as the same instants (month end, leap day)', async () => {
    // 2024-02-29T23:30Z is 2024-03-01T05:00+05:30; the range [05:00+05:30, 05:31+05:30) holds
    // the leap day's last reading and the first of March's.
    const { status, body } = await stack.apiGet<TelemetryView>(
      `/plants/${plant}/telemetry?from=${encodeURIComponent('2024-03-01T05:00:00+05:30')}&to=${encodeURIComponent('2024-03-01T05:31:00+05:30')}&bucket=1h`,
    );
    expect(status).toBe(200);
    expect(body.from).toBe('2024-02-29T23:30:00.000Z');
    expect(body.series[0]?.points).toEqual([
      { start: '2024-02-29T23:00:00.000Z', avg: 1, min: 1, max: 1, last: 1, count: 1 },
      { start: '2024-03-01T00:00:00.000Z', avg: 2, min: 2, max: 2, last: 2, count: 1 },
    ]);
  });

  it('answers metric and device with NUL, control characters or SQL with 200 empty or 400, never 500', async () => {
    for (const value of [
      '\u0000',
      'power_ac\u0000',
      "power_ac' OR '1'='1",
      'power_ac%',
      '\u202e',
      'é'.repeat(128),
    ]) {
      for (const param of ['metric', 'device']) {
        const { status, body } = await stack.apiGet<TelemetryView & ErrorBody>(
          `/plants/${plant}/telemetry?from=2024-02-29&to=2024-03-02&${param}=${encodeURIComponent(value)}`,
        );
        expect({ param, value, status }).toMatchObject({
          param,
          value,
          status: expect.toBeOneOf([200, 400]),
        });
        if (status === 200) expect(body.series).toEqual([]);
      }
    }
  });

  it("never answers another plant's readings, whatever the plant id looks like", async () => {
    for (const id of [
      neighbour.toUpperCase(),
      `${neighbour} `,
      `${neighbour}%00`,
      `${plant}' OR plant_id <> '`,
      `${encodeURIComponent(plant)}%2F..%2F${neighbour}`,
    ]) {
      const { status, body } = await stack.apiGet<TelemetryView & ErrorBody>(
        `/plants/${id}/telemetry?from=2024-02-29&to=2024-03-02`,
      );
      expect({ id, status }).toMatchObject({ id, status: expect.toBeOneOf([400, 404]) });
      expect(JSON.stringify(body)).not.toContain('666');
    }
    const own = await stack.apiGet<TelemetryView>(`/plants/${plant}/telemetry?from=2024-02-29&to=2024-03-02`);
    expect(JSON.stringify(own.body)).not.toContain('666');
  });
});

describe('readings at the limits of a double', () => {
  it('answers buckets whose sum overflows a double (two readings of Number.MAX_VALUE) with 200 and their true average', async () => {
    // One device can send these; PostgreSQL's float8 avg raised "value out of range: overflow",
    // and every query over the bucket answered 500 for the whole plant.
    const extreme = await newPlant();
    await storeReadings(stack.database.pool, extreme, [
      { deviceId: 'meter', timestamp: '2024-03-01T00:00:00Z', metrics: { energy: Number.MAX_VALUE } },
      { deviceId: 'meter', timestamp: '2024-03-01T00:00:01Z', metrics: { energy: Number.MAX_VALUE } },
      { deviceId: 'meter', timestamp: '2024-03-01T00:00:02Z', metrics: { power_ac: -Number.MAX_VALUE } },
      { deviceId: 'meter', timestamp: '2024-03-01T00:00:03Z', metrics: { power_ac: Number.MAX_VALUE } },
    ]);
    const { status, body } = await stack.apiGet<TelemetryView>(
      `/plants/${extreme}/telemetry?from=2024-03-01&to=2024-03-02&bucket=1h`,
    );
    expect(status).toBe(200);
    expect(body.series.map((s) => [s.metric, s.points[0]])).toEqual([
      [
        'energy',
        {
          start: '2024-03-01T00:00:00.000Z',
          avg: Number.MAX_VALUE,
          min: Number.MAX_VALUE,
          max: Number.MAX_VALUE,
          last: Number.MAX_VALUE,
          count: 2,
        },
      ],
      [
        'power_ac',
        {
          start: '2024-03-01T00:00:00.000Z',
          avg: 0,
          min: -Number.MAX_VALUE,
          max: Number.MAX_VALUE,
          last: Number.MAX_VALUE,
          count: 2,
        },
      ],
    ]);
  });
});

describe('GET /plants?silentFor= with hostile values', () => {
  it('answers 0, negative, fractional, empty or unit-less thresholds with 400', async () => {
    for (const value of ['0m', '-15m', '1.5h', '', '15', '15 m', '15minutes', '1ms']) {
      const { status } = await stack.apiGet<ErrorBody>(`/plants?silentFor=${encodeURIComponent(value)}`);
      expect({ value, status }).toEqual({ value, status: 400 });
    }
  });

  it('answers a threshold too large for PostgreSQL (999999999d) with 400, not 500', async () => {
    const { status, body } = await stack.apiGet<ErrorBody>('/plants?silentFor=999999999d');
    expect({ status, code: body.error?.code }).toMatchObject({ status: 400 });
    expect(body.error.message).toMatch(/silentFor/);
  });

  it('answers the longest threshold, 36500 days (before any reading), with every active plant', async () => {
    const { status, body } = await stack.apiGet<{ items: { id: string }[] }>(
      '/plants?silentFor=36500d&limit=100',
    );
    expect(status).toBe(200);
    expect(Array.isArray(body.items)).toBe(true);
  });
});
