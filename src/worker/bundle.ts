/**
 * The workflow bundle: built once by `npm run build:workflows` into .build/ (git-ignored), so a
 * worker starts without running webpack; a worker falls back to bundling at start when the
 * prebuilt bundle is missing or was built from other sources (a stale bundle would run old code).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, type WorkflowBundleOption } from '@temporalio/worker';
import { failureConverterPath } from '../codec/data-converter.js';

/** Workflow sources, the entry of the bundle. */
export const workflowsPath = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

const srcDir = fileURLToPath(new URL('..', import.meta.url));
const repoDir = dirname(srcDir);
export const PREBUILT_BUNDLE_PATH =
  process.env.SOLAR_IOT_WORKFLOW_BUNDLE?.trim() || join(repoDir, '.build', 'workflow-bundle.js');
const manifestPath = (codePath: string) => codePath.replace(/\.js$/, '.json');

/** Hash of everything that can end up in the bundle: src/ (workflows and what they import) and the SDK. */
export async function workflowSourceHash(): Promise<string> {
  const hash = createHash('sha256');
  const files = (await readdir(srcDir, { recursive: true })).filter((f) => /\.(ts|cjs|js)$/.test(f)).sort();
  for (const file of files) {
    hash.update(file);
    hash.update(await readFile(join(srcDir, file)));
  }
  const sdk = JSON.parse(
    await readFile(join(repoDir, 'node_modules', '@temporalio', 'workflow', 'package.json'), 'utf8'),
  ) as { version: string };
  hash.update(sdk.version);
  return hash.digest('hex');
}

const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };

/** Bundles the workflows (with the encrypting failure converter) and writes bundle and manifest. */
export async function buildWorkflowBundle(codePath = PREBUILT_BUNDLE_PATH): Promise<{ bytes: number }> {
  const sourceHash = await workflowSourceHash();
  const { code } = await bundleWorkflowCode({ workflowsPath, failureConverterPath, logger: quiet });
  await mkdir(dirname(codePath), { recursive: true });
  await writeFile(codePath, code);
  await writeFile(
    manifestPath(codePath),
    `${JSON.stringify({ sourceHash, builtAt: new Date().toISOString() })}\n`,
  );
  return { bytes: code.length };
}

export type WorkflowCode =
  | { workflowBundle: WorkflowBundleOption; source: 'prebuilt'; reason?: undefined }
  | { workflowsPath: string; source: 'bundle-at-start'; reason: string };

/** The prebuilt bundle when it matches the sources, else workflowsPath (and why). */
export async function resolveWorkflowCode(codePath = PREBUILT_BUNDLE_PATH): Promise<WorkflowCode> {
  if (!existsSync(codePath) || !existsSync(manifestPath(codePath))) {
    return { workflowsPath, source: 'bundle-at-start', reason: `no prebuilt bundle at ${codePath}` };
  }
  const manifest = JSON.parse(await readFile(manifestPath(codePath), 'utf8')) as { sourceHash?: string };
  if (manifest.sourceHash !== (await workflowSourceHash())) {
    return {
      workflowsPath,
      source: 'bundle-at-start',
      reason: `prebuilt bundle ${codePath} is stale (sources changed); run npm run build:workflows`,
    };
  }
  return { workflowBundle: { codePath }, source: 'prebuilt' };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const started = performance.now();
  const { bytes } = await buildWorkflowBundle();
  console.log(
    `workflow bundle written to ${PREBUILT_BUNDLE_PATH} (${(bytes / 1024).toFixed(0)} KiB, ${((performance.now() - started) / 1000).toFixed(1)} s)`,
  );
}
