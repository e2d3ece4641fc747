/**
 * The CLI against the real stack. Most commands run in-process through `run(argv, io)` with the
 * environment a shell would give it (the worker of this file serves its task queue); the bin
 * shim and `npm run cli` are also run as real processes.
 */
import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { inArray } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/io.js';
import { plants } from '../../src/db/schema.js';
import { thingNameFor } from '../../src/iot/naming.js';
import { json, ran } from '../support/child.js';
import { runCli } from '../support/cli.js';
import { TestStack } from '../support/product-stack.js';

/** In-process, with the stack's environment and API; `env` adds to it or takes from it (undefined). */
const cli = (
  stack: TestStack,
  argv: string[],
  options: { tty?: boolean; env?: Record<string, string | undefined> } = {},
) => runCli(argv, { ...stack.env, ...stack.apiEnv, ...options.env }, options);

describe('solar-iot against AWS (moto)', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await TestStack.start({ mode: 'aws' });
    await stack.serveApi();
  });
  afterAll(async () => stack?.close());

  it('keygen prints a new key, as text or JSON', async () => {
    const text = await cli(stack, ['keygen']);
    expect(text.code).toBe(EXIT.ok);
    expect(text.stdout.trim()).toMatch(/^[0-9a-f]{64}$/);
    const asJson = await cli(stack, ['--json', 'keygen']);
    expect(json<{ key: string }>(asJson).key).toMatch(/^[0-9a-f]{64}$/);
    expect(json<{ key: string }>(asJson).key).not.toBe(text.stdout.trim());
  });

  it('exits 2 on usage and configuration errors', async () => {
    for (const argv of [
      ['frobnicate'],
      ['plants', 'list', '--limit', '0'],
      ['plants', 'list', '--status', 'sleepy'],
      ['plants', 'show'],
      ['shadow', 'set', randomUUID(), 'not-a-pair'],
      ['command', 'send', randomUUID(), 'restart', '{not json'],
      ['command', 'send', randomUUID(), 'restart', '--qos', '2'],
      ['plants', 'show', 'bad/id'],
    ]) {
      const ran = await cli(stack, argv);
      expect(ran.code, argv.join(' ')).toBe(EXIT.usage);
      expect(ran.stderr, argv.join(' ')).not.toBe('');
    }
    const noApi = await cli(stack, ['status', randomUUID()], { env: { SOLAR_IOT_API_URL: undefined } });
    expect(noApi.code).toBe(EXIT.usage);
    expect(noApi.stderr).toMatch(/SOLAR_IOT_API_URL: is not set/);
    const badToken = await cli(stack, ['status', randomUUID()], {
      env: { SOLAR_IOT_API_TOKEN: 'wrong-token-0123456789' },
    });
    expect(badToken.code).toBe(EXIT.usage);
    expect(badToken.stderr).toMatch(/refused the request \(401/);
  });

  it('exits 3 when the plant does not exist', async () => {
    for (const argv of [
      ['plants', 'show', randomUUID()],
      ['status', randomUUID()],
      ['shadow', 'get', randomUUID()],
      ['deprovision', randomUUID()],
    ]) {
      const ran = await cli(stack, ['--json', ...argv]);
      expect(ran.code, argv.join(' ')).toBe(EXIT.notFound);
      expect(JSON.parse(ran.stderr).error.code).toBe('plant_not_found');
    }
  });

  it('creates and provisions a plant with --wait, then shows, lists and deletes it', async () => {
    const created = await cli(stack, ['--json', 'plants', 'create', 'CLI plant', '--wait']);
    expect(created.code).toBe(EXIT.ok);
    const { plant, resources, thingName } = json<{
      plant: { id: string; iotStatus: string };
      resources: { thingName: string };
      thingName: string;
    }>(created);
    expect(plant.iotStatus).toBe('active');
    expect(resources.thingName).toBe(thingNameFor(plant.id));
    expect(thingName).toBe(resources.thingName); // the API client answers like the library

    const shown = await cli(stack, ['plants', 'show', plant.id]);
    expect(shown.code).toBe(EXIT.ok);
    expect(shown.stdout).toMatch(/iot status\s*│\s*active/);
    expect(shown.stdout).toContain(thingNameFor(plant.id));
    expect(shown.stdout).toMatch(/provision \(completed\)/);

    const listed = await cli(stack, [
      '--json',
      'plants',
      'list',
      '--status',
      'active',
      '--all',
      '--limit',
      '2',
    ]);
    const items = json<{ items: { id: string; iotStatus: string }[] }>(listed).items;
    expect(items.map((p) => p.id)).toContain(plant.id);
    for (const p of items) expect(p.iotStatus).toBe('active');
    // --all: other test files share this database, so the plant need not be on the first page.
    const table = await cli(stack, ['plants', 'list', '--status', 'active', '--all']);
    expect(table.stdout).toMatch(/ID\s*│\s*NAME\s*│\s*IOT STATUS/);
    expect(table.stdout).toContain(plant.id);

    const certificateId = (await stack.plantRow(plant.id))?.certificateId;
    const removed = await cli(stack, ['deprovision', plant.id, '--wait']);
    expect(removed.code).toBe(EXIT.ok);
    // What the workflow removed, as before the CLI went through the API.
    expect(removed.stdout).toContain(`Plant ${plant.id} deprovisioned: removed `);
    expect(removed.stdout).toContain(`thing ${thingNameFor(plant.id)}`);
    expect(removed.stdout).toContain(`certificate ${certificateId}`);
    expect((await stack.plantRow(plant.id))?.iotStatus).toBe('deprovisioned');
    const shownRemoved = json<{ operation: { kind: string; removed?: string[] } }>(
      await cli(stack, ['--json', 'status', plant.id]),
    );
    expect(shownRemoved.operation.kind).toBe('deprovision');
    expect(shownRemoved.operation.removed).toContain(`thing ${thingNameFor(plant.id)}`);
    // Again: the library's answer (result) in JSON too; the certificate is gone since the first run.
    const again = await cli(stack, ['--json', 'deprovision', plant.id, '--wait']);
    expect(again.code).toBe(EXIT.ok);
    const second = json<{ iotStatus: string; result?: { plantId: string; removed: string[] } }>(again);
    expect(second).toMatchObject({ iotStatus: 'deprovisioned', result: { plantId: plant.id } });
    expect(second.result?.removed).not.toContain(`certificate ${certificateId}`);
  });

  it('shows a progress bar on a terminal while waiting', async () => {
    const ran = await cli(stack, ['plants', 'create', 'Progress plant', '--wait'], { tty: true });
    expect(ran.code).toBe(EXIT.ok);
    expect(ran.stdout).toMatch(/created and provisioned/);
    expect(ran.stderr).toMatch(/provision \[.*\] \d+\/10/);
  });

  it('provision retries a failed plant; plants delete starts deprovisioning', async () => {
    const id = `cli-failed-${randomUUID()}`;
    await stack.database.db
      .insert(plants)
      .values({ id, name: 'Failed before', iotStatus: 'failed', lastError: 'earlier' });
    const provisioned = await cli(stack, ['provision', id, '--wait']);
    expect(provisioned.code).toBe(EXIT.ok);
    expect(provisioned.stdout).toContain(`thing ${thingNameFor(id)}`);
    const deleting = await cli(stack, ['plants', 'delete', id]);
    expect(deleting.code).toBe(EXIT.ok);
    expect(deleting.stdout).toContain(`deprovision-plant-${id}`);
    await stack.until(async () => (await stack.plantRow(id))?.iotStatus === 'deprovisioned');
  });

  it('sets and reads shadows; a stale --version exits 1 with the conflict', async () => {
    const { plant } = json<{ plant: { id: string } }>(
      await cli(stack, ['--json', 'plants', 'create', 'Shadow CLI', '--wait']),
    );
    const set = await cli(stack, [
      '--json',
      'shadow',
      'set',
      plant.id,
      'powerLimit=1000',
      'mode=auto',
      'enabled=true',
    ]);
    expect(set.code).toBe(EXIT.ok);
    expect(json<{ version: number }>(set).version).toBe(1);
    expect(
      (await cli(stack, ['shadow', 'set', plant.id, '{"powerLimit":500}', '--version', '1'])).stdout,
    ).toMatch(/version 2/);
    const stale = await cli(stack, ['shadow', 'set', plant.id, 'powerLimit=1', '--version', '1']);
    expect(stale.code).toBe(EXIT.failure);
    expect(stale.stderr).toMatch(/no longer at version 1/);
    const got = await cli(stack, ['--json', 'shadow', 'get', plant.id]);
    expect(json<{ version: number; state: { desired: unknown } }>(got)).toMatchObject({
      version: 2,
      state: { desired: { powerLimit: 500, mode: 'auto', enabled: true } },
    });
    const named = await cli(stack, ['shadow', 'get', plant.id, '--name', 'tracker']);
    expect(named.code).toBe(EXIT.notFound);

    const sent = await cli(stack, [
      '--json',
      'command',
      'send',
      plant.id,
      'restart',
      '{"delaySeconds":5}',
      '--qos',
      '0',
    ]);
    expect(sent.code).toBe(EXIT.ok);
    expect(json(sent)).toMatchObject({ topic: `solar/${plant.id}/commands/restart`, qos: 0 });
  });

  it('runs as a real process through the bin shim and npm run cli', async () => {
    // The environment of an operator: the API's address and token, no key, no database.
    const env = { ...stack.env, ...stack.apiEnv, NO_COLOR: '1', ENCRYPTION_KEY: '', DATABASE_URL: '' };
    const key = await ran([process.execPath, 'bin/solar-iot.js', '--json', 'keygen'], { env });
    expect(key.code).toBe(EXIT.ok);
    expect(JSON.parse(key.stdout).key).toMatch(/^[0-9a-f]{64}$/);
    const missing = await ran([process.execPath, 'bin/solar-iot.js', 'status', randomUUID()], { env });
    expect(missing.code).toBe(EXIT.notFound);
    expect(missing.stderr).toMatch(/does not exist/);
    const usage = await ran(['npm', 'run', '-s', 'cli', '--', 'plants', 'frobnicate'], { env });
    expect(usage.code).toBe(EXIT.usage);
  });
});

describe('solar-iot backfill', () => {
  let stack: TestStack;
  const failing = `cli-bf-fails-${randomUUID()}`;

  beforeAll(async () => {
    stack = await TestStack.start({ mode: 'mock', worker: false });
    await stack.serveApi();
    const real = stack.realActivities();
    await stack.startWorker({
      async createThing(input) {
        if (input.plantId === failing)
          throw ApplicationFailure.nonRetryable('injected: thing limit', 'LimitExceededException');
        return real.createThing(input);
      },
    });
  });
  afterAll(async () => stack?.close());

  it('follows the run and exits 1 listing the plants that failed', async () => {
    // Files run one at a time: earlier leftovers must not join this run.
    await stack.database.db
      .delete(plants)
      .where(inArray(plants.iotStatus, ['disabled', 'pending', 'failed']));
    const ok = [1, 2, 3].map((n) => ({
      id: `cli-bf-${n}-${randomUUID()}`,
      name: `Backfill ${n}`,
      iotStatus: 'disabled' as const,
    }));
    await stack.database.db
      .insert(plants)
      .values([...ok, { id: failing, name: 'Will fail', iotStatus: 'disabled' }]);

    const workflowId = `backfill-cli-${randomUUID()}`;
    const human = await cli(stack, [
      'backfill',
      '--workflow-id',
      workflowId,
      '--concurrency',
      '2',
      '--page-size',
      '2',
    ]);
    expect(human.code).toBe(EXIT.failure);
    expect(human.stdout).toMatch(/provisioned\s*│\s*3/);
    expect(human.stdout).toMatch(/failed\s*│\s*1/);
    expect(human.stdout).toContain(failing);
    expect(human.stdout).toMatch(/injected: thing limit/);
    for (const p of ok) expect((await stack.plantRow(p.id))?.iotStatus).toBe('active');

    // Nothing left but the failed plant: a second run retries it (and it fails again).
    const again = await cli(stack, ['--json', 'backfill', '--workflow-id', `${workflowId}-2`]);
    expect(again.code).toBe(EXIT.failure);
    expect(json(again)).toMatchObject({ done: 0, failed: 1, failures: [{ plantId: failing }] });

    const started = await cli(stack, ['--json', 'backfill', '--workflow-id', `${workflowId}-3`, '--no-wait']);
    expect(started.code).toBe(EXIT.ok);
    expect(json(started)).toMatchObject({ workflowId: `${workflowId}-3` });
    await stack.solarIot.waitForBackfill(`${workflowId}-3`);
  });
});
