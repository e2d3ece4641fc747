/**
 * A child process of a test, its stdout and stderr collected: `started` for a server (wait for a
 * line, stop with SIGTERM), `ran` for a command (its exit code once it ends).
 */
import { spawn } from 'node:child_process';

export interface Started {
  /** stdout and stderr so far, interleaved. */
  output(): string;
  /** The exit code (null after a signal). */
  exited: Promise<number | null>;
  /** Resolves once the output matches `pattern`; rejects when the process ends first. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

export interface ChildOptions {
  cwd: string;
  env: Record<string, string | undefined>;
}

export function started(argv: string[], options: ChildOptions): Started {
  const [command = '', ...args] = argv;
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const listeners = new Set<() => void>();
  for (const stream of [child.stdout, child.stderr])
    stream.on('data', (d) => {
      text += String(d);
      for (const l of listeners) l();
    });
  const exited = new Promise<number | null>((resolve) => {
    child.once('error', (error) => {
      text += `\n${error.message}`;
      resolve(-1);
    });
    child.once('close', (code) => resolve(code));
  });
  return {
    output: () => text,
    exited,
    waitFor(pattern, timeoutMs = 60_000) {
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (!pattern.test(text)) return;
          done();
          resolve();
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`no ${pattern} within ${timeoutMs} ms in:\n${text}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        void exited.then((code) => {
          if (!listeners.has(check)) return;
          done();
          reject(new Error(`exited (${code}) before ${pattern}:\n${text}`));
        });
        check();
      });
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

/** Runs `argv` to its end (SIGTERM after `timeoutMs`). */
export async function ran(
  argv: string[],
  options: ChildOptions,
  timeoutMs = 120_000,
): Promise<{ code: number | null; output: string }> {
  const child = started(argv, options);
  const timer = setTimeout(() => child.stop(), timeoutMs);
  const code = await child.exited;
  clearTimeout(timer);
  return { code, output: child.output() };
}
