/**
 * Replays stored histories of real provisioning runs against the current workflow code. A change
 * that would break workflows already running in production (non-determinism) fails here first.
 *
 * The histories in ./histories were recorded by histories.record.ts. After an intended, versioned
 * change (patched()), record them again with `npm run record:histories`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { workflowBundle } from '../support/worker.js';

const historiesDir = fileURLToPath(new URL('./histories/', import.meta.url));

describe('replaying stored histories', () => {
  it('replays every stored history without non-determinism', async () => {
    const files = readdirSync(historiesDir).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThanOrEqual(3);
    const histories = files.map((file) => ({
      workflowId: file.replace(/\.json$/, ''),
      history: JSON.parse(readFileSync(`${historiesDir}${file}`, 'utf8')),
    }));
    const results = [];
    for await (const result of Worker.runReplayHistories(
      { workflowBundle: await workflowBundle('plain') },
      histories,
    )) {
      results.push(result);
    }
    expect(results.map((r) => [r.workflowId, r.error?.message ?? null])).toEqual(
      histories.map((h) => [h.workflowId, null]),
    );
  });
});
