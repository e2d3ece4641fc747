/**
 * Silent plants: the last accepted reading per device in GET /plants/{id}, GET /plants?silentFor=
 * and `solar-iot plants list --silent`, with readings written by the ingest store.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/io.js';
import { type IotStatus, plants } from '../../src/db/schema.js';
import type { PlantListItem, PlantPage } from '../../src/service/plants.js';
import type { PlantStatus } from '../../src/service/solar-iot.js';
import { runCli } from '../support/cli.js';
import { TestStack } from '../support/product-stack.js';
import { storeReadings } from '../support/telemetry.js';

let stack: TestStack;

const ago = (minutes: number) => new Date(Date.now() - minutes * 60_000).toISOString();

async function newPlant(iotStatus: IotStatus): Promise<string> {
  const id = `silent-${randomUUID()}`;
  await stack.database.db.insert(plants).values({ id, name: `Silence ${iotStatus}`, iotStatus });
  return id;
}

/** Every page of GET /plants with this query. */
async function listAll(query: string): Promise<PlantListItem[]> {
  const items: PlantListItem[] = [];
  let cursor: string | null = null;
  do {
    const { status, body }: { status: number; body: PlantPage } = await stack.apiGet<PlantPage>(
      `/plants?limit=500&${query}${cursor ? `&cursor=${cursor}` : ''}`,
    );
    expect(status).toBe(200);
    items.push(...body.items);
    cursor = body.nextCursor;
  } while (cursor);
  return items;
}

const recent = { plant: '', lastAt: '' };
let quietForAnHour = '';
let neverSent = '';
let failedQuiet = '';

beforeAll(async () => {
  stack = await TestStack.start({ mode: 'disabled' });
  await stack.serveApi();

  const { pool } = stack.database;
  recent.plant = await newPlant('active');
  recent.lastAt = ago(2);
  await storeReadings(pool, recent.plant, [
    { deviceId: 'inverter-01', timestamp: ago(90), metrics: { power_ac: 1 } },
    { deviceId: 'inverter-02', timestamp: recent.lastAt, metrics: { power_ac: 2 } },
  ]);
  quietForAnHour = await newPlant('active');
  await storeReadings(pool, quietForAnHour, [
    { deviceId: 'inverter-01', timestamp: ago(60), metrics: { power_ac: 3 } },
  ]);
  neverSent = await newPlant('active');
  failedQuiet = await newPlant('failed');
  await storeReadings(pool, failedQuiet, [
    { deviceId: 'inverter-01', timestamp: ago(60), metrics: { power_ac: 4 } },
  ]);
});

afterAll(async () => stack?.close());

describe('silent plants', () => {
  it("GET /plants/{id} tells each device's last reading and the plant's newest", async () => {
    const { status, body } = await stack.apiGet<PlantStatus>(`/plants/${recent.plant}`);
    expect(status).toBe(200);
    expect(body.telemetry).toEqual({
      lastReadingAt: recent.lastAt,
      devices: [
        { deviceId: 'inverter-01', lastReadingAt: expect.any(String) },
        { deviceId: 'inverter-02', lastReadingAt: recent.lastAt },
      ],
    });
    expect((await stack.apiGet<PlantStatus>(`/plants/${neverSent}`)).body.telemetry).toEqual({
      lastReadingAt: null,
      devices: [],
    });
  });

  it('GET /plants?silentFor=15m lists active plants quiet for 15 minutes, those that never sent included', async () => {
    const silent = await listAll('silentFor=15m');
    const ids = silent.map((p) => p.id);
    expect(ids).toContain(quietForAnHour);
    expect(ids).toContain(neverSent);
    expect(ids).not.toContain(recent.plant);
    expect(ids).not.toContain(failedQuiet); // not expected to send
    expect(silent.every((p) => p.iotStatus === 'active')).toBe(true);
    expect(silent.find((p) => p.id === neverSent)?.lastReadingAt).toBeNull();

    // A longer threshold, another status; and every plant's last reading in a plain listing.
    expect((await listAll('silentFor=2h')).map((p) => p.id)).not.toContain(quietForAnHour);
    expect((await listAll('silentFor=15m&iotStatus=failed')).map((p) => p.id)).toContain(failedQuiet);
    const all = await listAll('iotStatus=active');
    expect(all.find((p) => p.id === recent.plant)?.lastReadingAt).toBe(recent.lastAt);
  });

  it('refuses a threshold that is not a duration with 400', async () => {
    const { status, body } = await stack.apiGet<{ error: { message: string } }>('/plants?silentFor=soon');
    expect(status).toBe(400);
    expect(body.error.message).toMatch(/silentFor "soon" is not a duration/);
  });

  it('solar-iot plants list --silent 15m: the table and --json', async () => {
    const cli = (argv: string[]) => runCli(argv, { ...stack.env, ...stack.apiEnv });
    const asJson = await cli(['--json', 'plants', 'list', '--silent', '15m', '--all']);
    expect(asJson.code).toBe(EXIT.ok);
    const ids = (JSON.parse(asJson.stdout) as PlantPage).items.map((p) => p.id);
    expect(ids).toEqual(expect.arrayContaining([quietForAnHour, neverSent]));
    expect(ids).not.toContain(recent.plant);

    const text = await cli(['plants', 'list', '--silent', '15m', '--all']);
    expect(text.stdout).toMatch(/LAST READING/);
    expect(text.stdout).toMatch(new RegExp(`${neverSent}.*never`));
    expect(text.stdout).toMatch(/silent plant\(s\) \(nothing for 15m\)/);

    const bad = await cli(['plants', 'list', '--silent', 'soon']);
    expect(bad.code).toBe(EXIT.usage);
    expect(bad.stderr).toMatch(/silentFor "soon" is not a duration/);

    const shown = await cli(['plants', 'show', recent.plant]);
    expect(shown.stdout).toContain(`Last reading: ${recent.lastAt} (2 device(s))`);
  });
});
