/**
 * A child process of a test, its stdout and stderr collected: `started` for a server (wait for a
 * line, stop with SIGTERM), `ran` for a command (its exit code once it ends). Both run in the
 * repository root unless told otherwise, as a command typed in a shell there.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..', '..');

/** `node --import tsx <args>`: a TypeScript entry point of the checkout, as npm scripts run it. */
export const tsx = (args: string[]) => [process.execPath, '--import', 'tsx', ...args];

export interface Started {
  /** stdout and stderr so far, interleaved. */
  output(): string;
  stdout(): string;
  stderr(): string;
  /** The exit code (null after a signal, -1 when it could not start). */
  exited: Promise<number | null>;
  /** Resolves once the output matches `pattern`; rejects when the process ends first. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Not exited yet. */
  running(): boolean;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

export interface ChildOptions {
  /** Default: the repository root. */
  cwd?: string;
  env: Record<string, string | undefined>;
}

export function started(argv: string[], options: ChildOptions): Started {
  const [command = '', ...args] = argv;
  const child = spawn(command, args, {
    cwd: options.cwd ?? ROOT,
    env: options.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const text = { output: '', stdout: '', stderr: '' };
  const listeners = new Set<() => void>();
  const running = () => child.exitCode === null && child.signalCode === null;
  for (const name of ['stdout', 'stderr'] as const)
    child[name].on('data', (d) => {
      text.output += String(d);
      text[name] += String(d);
      for (const l of listeners) l();
    });
  const exited = new Promise<number | null>((resolve) => {
    child.once('error', (error) => {
      text.output += `\n${error.message}`;
      text.stderr += `\n${error.message}`;
      resolve(-1);
    });
    child.once('close', (code) => resolve(code));
  });
  return {
    output: () => text.output,
    stdout: () => text.stdout,
    stderr: () => text.stderr,
    exited,
    waitFor(pattern, timeoutMs = 60_000) {
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (!pattern.test(text.output)) return;
          done();
          resolve();
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`no ${pattern} within ${timeoutMs} ms in:\n${text.output}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        void exited.then((code) => {
          if (!listeners.has(check)) return;
          done();
          reject(new Error(`exited (${code}) before ${pattern}:\n${text.output}`));
        });
        check();
      });
    },
    running,
    async stop() {
      if (running()) child.kill('SIGTERM');
      return exited;
    },
  };
}

export interface Ran {
  code: number | null;
  /** stdout and stderr, interleaved. */
  output: string;
  stdout: string;
  stderr: string;
}

/** Runs `argv` to its end (SIGTERM after `timeoutMs`). */
export async function ran(argv: string[], options: ChildOptions, timeoutMs = 120_000): Promise<Ran> {
  const child = started(argv, options);
  const timer = setTimeout(() => child.stop(), timeoutMs);
  const code = await child.exited;
  clearTimeout(timer);
  return { code, output: child.output(), stdout: child.stdout(), stderr: child.stderr() };
}

/** A command's stdout as JSON; when it is not, an error that shows both streams. */
export function json<T = Record<string, unknown>>(ran: Pick<Ran, 'code' | 'stdout' | 'stderr'>): T {
  try {
    return JSON.parse(ran.stdout) as T;
  } catch {
    throw new Error(`not JSON (exit ${ran.code}):\n${ran.stdout}\n${ran.stderr}`);
  }
}
