/**
 * A deprovision cancels a provision while one of its steps is failing an attempt. Temporal then
 * closes the step with that attempt's error (retry state CANCEL_REQUESTED), not a
 * CancelledFailure. Seen in the interleaving chaos scenario with 150 plants: the provision rolled
 * back correctly but ended "failed: <AWS error>" instead of cancelled. On the dev server (a real
 * Temporal server), as in the chaos suite.
 */
import { WorkflowFailedError } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { startProvisioning } from '../../src/client.js';
import { toActivityFailure } from '../../src/iot/aws-errors.js';
import { newPlantId } from '../support/provisioning-harness.js';
import { useProvisioningHarness } from '../support/use-provisioning-harness.js';
import type { ActivityOverrides } from '../support/worker.js';

const t = useProvisioningHarness({ server: 'dev-server' });

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('provisionPlant cancelled during a failing attempt', () => {
  it('ends as cancelled, everything rolled back', async () => {
    const plantId = newPlantId();
    let failAttempt: () => void = () => {};
    const cancelReachedStep = new Promise<void>((resolve) => {
      failAttempt = resolve;
    });
    let attempts = 0;
    const overrides: ActivityOverrides = {
      ensureTelemetryRoute: async () => {
        attempts += 1;
        await cancelReachedStep;
        throw toActivityFailure(
          'CreateTopicRule',
          Object.assign(new Error('Service unavailable (injected)'), {
            name: 'ServiceUnavailableException',
            $metadata: { httpStatusCode: 503 },
          }),
        );
      },
    };
    const events: string[] = []; // how the steps of the history ended, other than completed
    const error = await t.h
      .withWorker(overrides, async (taskQueue) => {
        const handle = await startProvisioning(
          t.env.client,
          { plantId, plantName: 'Cancelled' },
          { taskQueue },
        );
        for (let i = 0; i < 600 && attempts === 0; i++) await pause(100);
        await handle.cancel();
        // Once the workflow has asked for the step's cancellation, the attempt fails.
        for (let i = 0; i < 300; i++) {
          const history = await handle.fetchHistory();
          if (history.events?.some((e) => e.activityTaskCancelRequestedEventAttributes)) break;
          await pause(100);
        }
        failAttempt();
        try {
          return await handle.result();
        } finally {
          const history = await handle.fetchHistory();
          events.push(
            ...(history.events ?? []).flatMap((e) =>
              e.activityTaskFailedEventAttributes
                ? ['activity failed']
                : e.activityTaskCanceledEventAttributes
                  ? ['activity cancelled']
                  : [],
            ),
          );
        }
      })
      .catch((e: unknown) => e);

    expect(attempts).toBe(1);
    expect(events).toEqual(['activity failed']); // the race: the step failed, it was not cancelled
    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect((error as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    const inventory = await t.h.awsInventory();
    expect(inventory).toMatchObject({ things: [], certificates: [], policies: [], plantRules: [] });
    // The outcome reaches the plant's row although the workflow's scope was cancelled.
    const row = await t.h.plantRow(plantId);
    expect(row?.iotStatus).toBe('failed');
    expect(row?.lastError).toMatch(/^Provisioning was cancelled\. Everything created was rolled back/);
  });
});
