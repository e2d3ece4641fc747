/**
 * The Temporal tools: the CLI (dev server and Web UI, built with `go install`) and the Java
 * time-skipping test server (Maven Central), each cached by version (tools.ts).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { access, chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, waitForTcp } from './processes.js';
import {
  cacheRoot,
  defaultLog,
  goInstallEnv,
  internetReachable,
  type Log,
  run,
  type TemporalTool,
  TOOL_VERSIONS,
  ToolError,
  which,
  withLock,
} from './tool-cache.js';

// ---------------------------------------------------------------------------------------------
// Temporal CLI (dev server + Web UI)
// ---------------------------------------------------------------------------------------------

export function temporalCliPath(): string {
  return join(cacheRoot(), `temporal-cli-${TOOL_VERSIONS.temporalCli}`, 'temporal');
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
        env: goInstallEnv(dirname(bin)),
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
