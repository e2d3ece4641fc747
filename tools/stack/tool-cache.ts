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
