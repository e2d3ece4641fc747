/**
 * What every tool install of tools.ts shares: the pinned versions, the cache folder, a logged
 * command runner and a cross-process lock.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const TOOL_VERSIONS = {
  /** Later tags carry a replace directive and refuse `go install`. */
  temporalCli: '1.5.1',
  /** io.temporal:temporal-test-server on Maven Central. */
  temporalTestServer: '1.38.0',
  moto: '5.1.22',
  /** sigs.k8s.io/kustomize/kustomize/v5 on the Go module proxy (deploy/k8s). */
  kustomize: '5.8.1',
  /** kubernetes-validate on PyPI: the Kubernetes API's JSON schemas, per version (deploy/k8s). */
  kubernetesValidate: '1.37.0',
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

export type Log = (message: string) => void;
export const defaultLog: Log = (message) => console.log(`[tools] ${message}`);

/** Runs a command with output in a log file; throws ToolError with the log's tail on failure. */
export async function run(
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

/** `go install` of a module's command into binDir, its downloads kept in the cache's `go/`. */
export function goInstallEnv(binDir: string): NodeJS.ProcessEnv {
  const gopath = join(cacheRoot(), 'go');
  return {
    ...process.env,
    CGO_ENABLED: '0',
    GOPATH: gopath,
    GOMODCACHE: join(gopath, 'pkg', 'mod'),
    GOBIN: binDir,
    GOFLAGS: '-modcacherw',
  };
}

export interface VenvTool {
  /** Folder under the cache and lock name, e.g. `moto-5.1.22`. */
  name: string;
  /** What pip installs, e.g. `moto[server]==5.1.22`. */
  requirement: string;
  /** The executable under the virtual environment's bin/. */
  bin: string;
  /** The ToolError's message when python3 is missing. */
  withoutPython: string;
}

/** A PyPI package in a virtual environment of its own, installed once; resolves to its executable. */
export async function ensureVenvTool(tool: VenvTool, log: Log): Promise<string> {
  const dir = join(cacheRoot(), tool.name);
  const bin = join(dir, 'bin', tool.bin);
  const marker = join(dir, '.ok');
  if (existsSync(marker) && existsSync(bin)) return bin;
  const python = which('python3');
  if (!python) throw new ToolError(tool.withoutPython);
  return await withLock(tool.name, log, async () => {
    if (existsSync(marker) && existsSync(bin)) return bin;
    const logFile = join(cacheRoot(), 'logs', `${tool.name}.log`);
    log(`installing ${tool.requirement} from PyPI into ${dir} (log: ${logFile})`);
    await rm(dir, { recursive: true, force: true });
    await run(python, ['-m', 'venv', dir], {
      logFile,
      what: 'python3 -m venv (Debian: apt-get install python3-venv)',
    });
    await run(join(dir, 'bin', 'pip'), ['install', '--disable-pip-version-check', '-q', tool.requirement], {
      logFile,
      what: `pip install ${tool.requirement}`,
    });
    if (!existsSync(bin)) throw new ToolError(`pip finished but ${bin} is missing; see ${logFile}`);
    await writeFile(marker, `${new Date().toISOString()}\n`);
    return bin;
  });
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
export async function withLock<T>(name: string, log: Log, fn: () => Promise<T>): Promise<T> {
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

export async function internetReachable(): Promise<boolean> {
  try {
    await fetch('https://temporal.download/', { method: 'HEAD', signal: AbortSignal.timeout(3000) });
    return true;
  } catch {
    return false;
  }
}

/** A tool is either a file we built, or "let the Temporal SDK download its own copy". */
export type TemporalTool = { kind: 'path'; path: string } | { kind: 'sdk-download' };
