/**
 * The Temporal Web UI as an operator uses it, in headless Chromium (Debian's `chromium`, driven
 * by playwright-core): the test run's dev server, whose Web UI points at the codec server the way
 * `npm start` points it (test/support/global-setup.ts), the codec server started here as `npm start`
 * configures it, and a worker with the real activities against moto. One browser for the file.
 *
 * Screenshots go to test-artifacts/web-ui/ (gitignored); the test prints their paths.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type RunningCodecServer, runCodecServer } from '../../src/codec/main.js';
import { provisionWorkflowId } from '../../src/workflows/contract.js';
import { which } from '../../tools/stack/tool-cache.js';
import type { WebUiEnv } from '../support/env.js';
import { TestStack } from '../support/product-stack.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const ARTIFACTS = join(ROOT, 'test-artifacts', 'web-ui');

/**
 * Debian's Chromium (`apt-get install chromium`, which .ci/run does when it is missing), or
 * CHROMIUM_PATH. The binary itself before the /usr/bin wrapper, which only adds desktop flags.
 */
function chromiumExecutable(): string {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/lib/chromium/chromium', which('chromium')];
  const found = candidates.find((path): path is string => Boolean(path && existsSync(path)));
  if (!found) throw new Error('Chromium not found: apt-get install chromium (Debian), or set CHROMIUM_PATH');
  return found;
}

/** The README's link to the stuck provisions, as an operator copies it. */
function readmeStuckProvisionsLink(): URL {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const link = readme.match(
    /<(http:\/\/localhost:8233\/namespaces\/default\/workflows\?[^>]*savedQuery=[^>]*)>/,
  );
  if (!link?.[1]) throw new Error('README.md: no <http://localhost:8233/...savedQuery=...> link');
  return new URL(link[1]);
}

let ui: WebUiEnv;
let stack: TestStack;
let codecServer: RunningCodecServer;
let browser: Browser;
let page: Page;
/** A provision held in create-thing until the end of the file: a stuck one. */
const stuckPlantId = randomUUID();
let releaseStuck: () => void = () => undefined;
const stuckReleased = new Promise<void>((resolve) => {
  releaseStuck = resolve;
});

beforeAll(async () => {
  const webUi = inject('webUi');
  if (!webUi)
    throw new Error('no Web UI: this test needs the dev server of the test run (TEMPORAL_ADDRESS unset)');
  ui = webUi;
  stack = await TestStack.start({
    mode: 'aws',
    overrides: {
      async createThing(input) {
        if (input.plantId === stuckPlantId) await stuckReleased;
        return stack.realActivities().createThing(input);
      },
    },
  });
  // As `npm start` runs it: the token from the file whose token is in the UI's codec endpoint,
  // the UI's origin allowed, the keys of every other process of the stack.
  codecServer = await runCodecServer({
    ...stack.env,
    CODEC_SERVER_PORT: String(ui.codecPort),
    CODEC_SERVER_TOKEN_FILE: ui.codecTokenFile,
    CODEC_CORS_ORIGINS: ui.url,
  });
  browser = await chromium.launch({ executablePath: chromiumExecutable() });
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  await mkdir(ARTIFACTS, { recursive: true });
});

afterAll(async () => {
  releaseStuck();
  await browser?.close();
  await codecServer?.close();
  // The held provision finishes before the worker stops, so no later file sees it running.
  await stack?.temporal.workflow
    .getHandle(provisionWorkflowId(stuckPlantId))
    .result()
    .catch(() => undefined);
  await stack?.close();
});

async function screenshot(name: string): Promise<void> {
  const path = join(ARTIFACTS, name);
  await page.screenshot({ path, fullPage: true });
  console.log(`[web-ui] screenshot ${path}`);
}

function workflowsUrl(query: string): string {
  return `${ui.url}/namespaces/default/workflows?query=${encodeURIComponent(query)}`;
}

describe('Temporal Web UI of the stack', () => {
  it('finds a provision by its PlantId and shows its input and result decoded by the codec server', async () => {
    const plantId = randomUUID();
    const plantName = `Web UI plant ${plantId.slice(0, 8)}`;
    const outcome = await stack.solarIot.provisionPlantIoT(plantId, plantName, { wait: true });
    expect(outcome.iotStatus).toBe('active');
    const certificateId = outcome.resources?.certificateId ?? '';
    expect(certificateId).not.toBe('');

    await page.goto(workflowsUrl(`PlantId="${plantId}"`));
    await page.getByRole('link', { name: provisionWorkflowId(plantId) }).click();
    // Only the encrypted payloads hold these: the plant's name (input) and its certificate (result).
    await page.getByText(plantName).first().waitFor();
    await page.getByText(certificateId).first().waitFor();
    await screenshot('provision.png');
    // Without the codec server the UI shows the payloads as they are stored: their encoding
    // `binary/encrypted` (base64 in the JSON it renders) and a "Codec Server could not connect" banner.
    const text = await page.locator('body').textContent();
    for (const undecoded of ['binary/encrypted', 'YmluYXJ5L2VuY3J5cHRlZA', 'Codec Server could not'])
      expect(text).not.toContain(undecoded);
  });

  it("lists a provision that is still provisioning under the README's Stuck provisions link, and saves the view", async () => {
    await stack.solarIot.provisionPlantIoT(stuckPlantId, 'Stuck plant');
    // Listed once its first workflow task has set IotStatus (the page does not refresh by itself).
    await stack.until(async () => {
      const query = `PlantId="${stuckPlantId}" AND IotStatus="provisioning"`;
      for await (const _ of stack.temporal.workflow.list({ query })) return true;
      return false;
    });
    const link = readmeStuckProvisionsLink();
    const viewName = link.searchParams.get('savedQuery');
    await page.goto(`${ui.url}${link.pathname}${link.search}`);
    await page.getByRole('link', { name: provisionWorkflowId(stuckPlantId) }).waitFor();
    await screenshot('stuck-provisions.png');

    // Where this UI keeps Saved Views: per namespace, in the browser's local storage.
    const saved = await page.evaluate<string | null>("localStorage.getItem('saved-workflow-queries')");
    expect(JSON.parse(saved ?? '{}').default).toContainEqual(
      expect.objectContaining({ name: viewName, query: link.searchParams.get('query') }),
    );
  });
});
