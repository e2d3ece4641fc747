/**
 * backfillPlants over 200 plants: bounded concurrency, continue-as-new per page, failures listed
 * with reasons without stopping the run, a plant whose provision already runs never provisioned
 * twice, and a worker restart in the middle of the run.
 *
 * Mock-mode activities keep 200 provisions quick; the real-AWS path of the same workflow is
 * covered in modes.test.ts. This file owns the plants table while it runs (files run one at a
 * time), so the totals can be exact.
 */
import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BackfillProgress, provisionWorkflowId } from '../../src/client.js';
import { type IotStatus, plants } from '../../src/db/schema.js';
import { TestStack } from '../support/product-stack.js';
import type { ActivityOverrides } from '../support/worker.js';

let stack: TestStack;
const createThingCalls = new Map<string, number>();
const failing = new Set<string>();
let heldPlant = '';
let releaseHeld: () => void = () => undefined;
const held = new Promise<void>((resolve) => {
  releaseHeld = resolve;
});

function overrides(): ActivityOverrides {
  const real = stack.realActivities();
  return {
    async createThing(input) {
      createThingCalls.set(input.plantId, (createThingCalls.get(input.plantId) ?? 0) + 1);
      return real.createThing(input);
    },
    async createPolicy(input) {
      if (failing.has(input.plantId)) {
        throw ApplicationFailure.nonRetryable(
          `injected: policy quota reached for ${input.plantId}`,
          'LimitExceededException',
        );
      }
      return real.createPolicy(input);
    },
    // Holds one plant's provision before it records anything, so the plant still looks `pending`.
    async waitForDeprovisioning(input) {
      // Cancelled by a worker shutdown, it fails and is retried on the next worker, still held.
      if (input.plantId === heldPlant) await Promise.race([held, Context.current().cancelled]);
      return real.waitForDeprovisioning(input);
    },
  };
}

beforeAll(async () => {
  stack = await TestStack.start({ mode: 'mock', worker: false });
  await stack.database.db.delete(plants);
  await stack.startWorker(overrides());
});

afterAll(async () => {
  releaseHeld();
  await stack?.close();
});

describe('backfillPlants', () => {
  it('provisions 200 plants a page at a time, lists failures, skips a running provision, survives a worker restart', {
    timeout: 400_000,
  }, async () => {
    const statuses: IotStatus[] = ['disabled', 'pending', 'failed'];
    const rows = Array.from({ length: 200 }, (_, i) => ({
      id: `bf-${String(i).padStart(3, '0')}-${randomUUID().slice(0, 8)}`,
      name: `Backfill ${i}`,
      iotStatus: statuses[i % 3] as IotStatus,
    }));
    const untouched = [
      ...Array.from({ length: 5 }, (_, i) => ({
        id: `bf-active-${i}`,
        name: 'active',
        iotStatus: 'active' as const,
      })),
      ...Array.from({ length: 5 }, (_, i) => ({
        id: `bf-gone-${i}`,
        name: 'gone',
        iotStatus: 'deprovisioned' as const,
      })),
    ];
    await stack.database.db.insert(plants).values([...rows, ...untouched]);
    for (const i of [3, 41, 77, 120, 121, 160, 199]) failing.add(rows[i]?.id ?? '');

    // A provision of one pending plant is already running (started by the API, say).
    heldPlant = rows[90]?.id ?? '';
    await stack.solarIot.provisionPlantIoT(heldPlant);

    const workflowId = `backfill-${randomUUID()}`;
    await stack.solarIot.startBackfill({ workflowId, concurrency: 10, pageSize: 50 });

    // Restart the worker once the run is well under way; the backfill resumes where it was.
    const midway = await stack.until(async () => {
      const p = await stack.solarIot.getBackfillProgress(workflowId).catch(() => null);
      return p && p.done >= 60 ? p : undefined;
    });
    expect(midway.finished).toBe(false);
    await stack.stopWorker();
    await stack.startWorker(overrides());

    const seen: BackfillProgress[] = [];
    const result = await stack.solarIot.waitForBackfill(workflowId, {
      pollIntervalMs: 250,
      onProgress: (p) => seen.push(p),
    });

    expect(result.finished).toBe(true);
    expect(result.failed).toBe(7);
    expect(result.skipped).toBe(1);
    expect(result.done).toBe(200 - 7 - 1);
    // 200 plants in pages of 50: four full pages, then a run that finds nothing more.
    expect(result.runs).toBe(5);
    expect(result.failures.map((f) => f.plantId).sort()).toEqual([...failing].sort());
    for (const f of result.failures) expect(f.reason).toMatch(/injected: policy quota reached/);
    for (const p of seen) expect(p.inFlight).toBeLessThanOrEqual(10);

    // The held plant: backfill did not start a second provision; its own run completes once released.
    expect(createThingCalls.get(heldPlant)).toBeUndefined();
    releaseHeld();
    await stack.temporal.workflow.getHandle(provisionWorkflowId(heldPlant)).result();
    expect(createThingCalls.get(heldPlant)).toBe(1);

    // Every plant was provisioned exactly once, whatever the restart.
    for (const row of rows) expect(createThingCalls.get(row.id)).toBe(1);
    for (const row of rows) {
      const stored = await stack.plantRow(row.id);
      if (failing.has(row.id)) {
        expect(stored?.iotStatus).toBe('failed');
        expect(stored?.lastError).toMatch(/injected: policy quota reached/);
      } else {
        expect(stored?.iotStatus).toBe('active');
        expect(stored?.thingName).toBe(`solar-plant-mock-${row.id}`);
      }
    }
    for (const row of untouched) {
      expect((await stack.plantRow(row.id))?.iotStatus).toBe(row.iotStatus);
      expect(createThingCalls.get(row.id)).toBeUndefined();
    }
  });

  it('refuses out-of-range settings before starting anything', async () => {
    await expect(stack.solarIot.startBackfill({ concurrency: 0 })).rejects.toMatchObject({
      code: 'invalid_input',
    });
    await expect(stack.solarIot.startBackfill({ pageSize: 5000 })).rejects.toMatchObject({
      code: 'invalid_input',
    });
    expect(await stack.solarIot.getBackfillProgress(`backfill-never-${randomUUID()}`)).toBeNull();
  });
});
