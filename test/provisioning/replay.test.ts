/**
 * Replays stored histories of real provisioning runs against the current workflow code. A change
 * that would break workflows already running in production (non-determinism) fails here first.
 *
 * The histories in ./histories were recorded by histories.record.ts, one per shape in
 * recorded-shapes.ts. After a change to workflow code, record them again with
 * `npm run record:histories`; from the first release on, such a change is guarded by patched()
 * instead and the history recorded before it is kept (src/workflows/patches.ts).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { workflowBundle } from '../support/worker.js';
import { recordedShapes } from './recorded-shapes.js';

const historiesDir = fileURLToPath(new URL('./histories/', import.meta.url));

describe('replaying stored histories', () => {
  it('replays every stored history without non-determinism', async () => {
    const files = readdirSync(historiesDir).filter((f) => f.endsWith('.json'));
    // Every recorded shape is there; histories kept from before a patch come on top.
    expect(files.map((f) => f.replace(/\.json$/, ''))).toEqual(expect.arrayContaining([...recordedShapes]));
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

  it('workflow code calls patched() only through the registry, src/workflows/patches.ts', () => {
    const workflowsDir = fileURLToPath(new URL('../../src/workflows/', import.meta.url));
    const direct = readdirSync(workflowsDir)
      .filter((f) => f.endsWith('.ts') && f !== 'patches.ts')
      .filter((f) => /\b(patched|deprecatePatch)\(/.test(readFileSync(`${workflowsDir}${f}`, 'utf8')));
    expect(direct).toEqual([]);
  });
});
