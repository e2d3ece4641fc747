/**
 * The API's request metrics (issue 18, item 1): every answer counted by route template (never
 * the URL a caller sent: no plant id, no query string in a label), method and status, the
 * API's own refusals (401, unknown routes) included.
 */
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiMetrics, UNMATCHED_ROUTE } from '../../src/api/metrics.js';
import { buildServer } from '../../src/api/server.js';
import { TestStack } from '../support/product-stack.js';

const TOKEN = 'api-metrics-test-token-0123456789';
let stack: TestStack;

beforeAll(async () => {
  stack = await TestStack.start({ mode: 'disabled' });
});
afterAll(async () => {
  await stack?.close();
});

describe('API request metrics', () => {
  it('counts requests by route template, method and status, with their latency', async () => {
    const metrics = new ApiMetrics();
    const { app } = buildServer({ solarIot: stack.solarIot, settings: { token: TOKEN }, metrics });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    const get = async (path: string, token?: string) =>
      (
        await fetch(`http://127.0.0.1:${port}${path}`, {
          headers: token ? { authorization: `Bearer ${token}` } : {},
        })
      ).status;
    const statuses = [
      await get('/healthz'),
      await get('/plants/plant-a?x=1'), // no token
      await get('/plants/plant-a', TOKEN),
      await get('/plants/plant-b', TOKEN),
      await get('/no/such/route', TOKEN),
    ];
    expect(statuses).toEqual([200, 401, 404, 404, 404]);
    await app.close();

    const series = (await metrics.requests.get()).values.map((v) => ({ ...v.labels, value: v.value }));
    expect(series).toEqual(
      expect.arrayContaining([
        { route: '/healthz', method: 'GET', status: '200', value: 1 },
        { route: '/plants/:id', method: 'GET', status: '401', value: 1 },
        { route: '/plants/:id', method: 'GET', status: '404', value: 2 },
        { route: UNMATCHED_ROUTE, method: 'GET', status: '404', value: 1 },
      ]),
    );
    expect(series).toHaveLength(4);
    const text = await metrics.registry.metrics();
    expect(text).not.toMatch(/plant-a|plant-b|no\/such/);
    expect(text).toMatch(
      /^solar_iot_api_request_duration_seconds_count\{route="\/plants\/:id",method="GET",status="404"\} 2$/m,
    );
  });

  it('counts requests refused before routing (a path that does not decode, a parameter too long) as unmatched', async () => {
    const metrics = new ApiMetrics();
    const { app } = buildServer({ solarIot: stack.solarIot, settings: { token: TOKEN }, metrics });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    const get = async (path: string) =>
      (await fetch(`http://127.0.0.1:${port}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } }))
        .status;
    const statuses = [await get('/plants/%zz'), await get(`/plants/${'p'.repeat(201)}`)];
    await app.close();

    const series = (await metrics.requests.get()).values.map((v) => ({ ...v.labels, value: v.value }));
    expect(series).toEqual(
      statuses.map((status) => ({ route: UNMATCHED_ROUTE, method: 'GET', status: String(status), value: 1 })),
    );
    expect(statuses).toEqual([400, 414]);
  });
});
