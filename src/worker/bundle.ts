/**
 * The workflow bundle, built ahead so a worker starts without running webpack: from the sources by
 * `npm run build:workflows` into .build/ (git-ignored), from the compiled code by `npm run build`
 * into dist/ (what the package and the image ship). A worker falls back to bundling at start when
 * the prebuilt bundle is missing or was built from other code (a stale bundle would run old code).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, type WorkflowBundleOption } from '@temporalio/worker';
import { failureConverterPath } from '../codec/data-converter.js';

/** `.ts` under tsx (src/), `.js` compiled (dist/): the workflows are bundled from the same tree. */
const codeExtension = extname(fileURLToPath(import.meta.url));

/** Workflow sources, the entry of the bundle. */
export const workflowsPath = fileURLToPath(new URL(`../workflows/index${codeExtension}`, import.meta.url));

/** src/ or dist/: the tree this module runs from. */
const codeDir = fileURLToPath(new URL('..', import.meta.url));
const BUNDLE_FILE = 'workflow-bundle.js';

/**
 * `plain`, or `traced`: the same workflows with OpenTelemetry's workflow interceptors, for a
 * worker that traces (OTEL_EXPORTER_OTLP_ENDPOINT). Two bundles, so a worker that does not trace
 * runs no OpenTelemetry code in its workflows at all.
 */
export type BundleKind = 'plain' | 'traced';

/** Bundled with the workflows: the metrics interceptor, whose sink the worker injects (metrics.ts). */
export const workflowInterceptorModules = [
  fileURLToPath(new URL(`../workflows/metrics-interceptor${codeExtension}`, import.meta.url)),
];

const require = createRequire(import.meta.url);
/** Temporal's workflow interceptors for OpenTelemetry (resolved here, loaded only by the bundler). */
const OPENTELEMETRY_WORKFLOW_INTERCEPTORS =
  '@temporalio/interceptors-opentelemetry/lib/workflow-interceptors';

export function workflowInterceptorModulesOf(kind: BundleKind): string[] {
  return kind === 'traced'
    ? [...workflowInterceptorModules, require.resolve(OPENTELEMETRY_WORKFLOW_INTERCEPTORS)]
    : workflowInterceptorModules;
}

export const PREBUILT_BUNDLE_PATH =
  process.env.SOLAR_IOT_WORKFLOW_BUNDLE?.trim() ||
  (codeExtension === '.ts' ? join(dirname(codeDir), '.build', BUNDLE_FILE) : join(codeDir, BUNDLE_FILE));

/** Where `kind`'s bundle is prebuilt: the traced one beside the plain one, `-traced` in its name. */
export function prebuiltBundlePath(kind: BundleKind, plainPath = PREBUILT_BUNDLE_PATH): string {
  return kind === 'traced' ? plainPath.replace(/(\.js)?$/, '-traced.js') : plainPath;
}
const BUNDLE_FILES = new Set([BUNDLE_FILE, prebuiltBundlePath('traced', BUNDLE_FILE)]);
const manifestPath = (codePath: string) => codePath.replace(/\.js$/, '.json');

/**
 * Hash of everything that can end up in the bundle: the code tree (workflows and what they
 * import), the SDK, and for the traced bundle the OpenTelemetry interceptors.
 */
export async function workflowSourceHash(kind: BundleKind = 'plain'): Promise<string> {
  const hash = createHash('sha256');
  const files = (await readdir(codeDir, { recursive: true }))
    .filter((f) => /\.(ts|cjs|js)$/.test(f) && !BUNDLE_FILES.has(f))
    .sort();
  for (const file of files) {
    hash.update(file);
    hash.update(await readFile(join(codeDir, file)));
  }
  // Resolved as Node resolves it: installed as a package, the SDK is beside this one, not inside.
  const version = (name: string) => (require(`${name}/package.json`) as { version: string }).version;
  hash.update(version('@temporalio/workflow'));
  if (kind === 'traced') {
    hash.update(`traced ${version('@temporalio/interceptors-opentelemetry')}`);
    hash.update(version('@opentelemetry/sdk-trace-base'));
  }
  return hash.digest('hex');
}

const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };

/** Bundles the workflows (with the encrypting failure converter) and writes bundle and manifest. */
export async function buildWorkflowBundle(
  codePath = PREBUILT_BUNDLE_PATH,
  kind: BundleKind = 'plain',
): Promise<{ bytes: number }> {
  const sourceHash = await workflowSourceHash(kind);
  const { code } = await bundleWorkflowCode({
    workflowsPath,
    workflowInterceptorModules: workflowInterceptorModulesOf(kind),
    failureConverterPath,
    logger: quiet,
  });
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

/** The prebuilt bundle of `kind` when it matches the sources, else workflowsPath (and why). */
export async function resolveWorkflowCode(
  kind: BundleKind = 'plain',
  codePath = prebuiltBundlePath(kind),
): Promise<WorkflowCode> {
  if (!existsSync(codePath) || !existsSync(manifestPath(codePath))) {
    return { workflowsPath, source: 'bundle-at-start', reason: `no prebuilt bundle at ${codePath}` };
  }
  const manifest = JSON.parse(await readFile(manifestPath(codePath), 'utf8')) as { sourceHash?: string };
  if (manifest.sourceHash !== (await workflowSourceHash(kind))) {
    return {
      workflowsPath,
      source: 'bundle-at-start',
      reason: `prebuilt bundle ${codePath} is stale (code changed); run npm run ${codeExtension === '.ts' ? 'build:workflows' : 'build'}`,
    };
  }
  return { workflowBundle: { codePath }, source: 'prebuilt' };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const kind of ['plain', 'traced'] as const) {
    const started = performance.now();
    const codePath = prebuiltBundlePath(kind);
    const { bytes } = await buildWorkflowBundle(codePath, kind);
    console.log(
      `${kind} workflow bundle written to ${codePath} (${(bytes / 1024).toFixed(0)} KiB, ${((performance.now() - started) / 1000).toFixed(1)} s)`,
    );
  }
}
