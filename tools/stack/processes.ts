/**
 * Child processes of the local stack: each one runs in its own process group (so a Ctrl-C in
 * the terminal reaches only the parent, which then stops children in its own order), with its
 * output in a log file or on the terminal, and a stop() that escalates to SIGKILL and sweeps
 * the whole group so nothing is left behind.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ProcessSpec {
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** A log file path for stdout and stderr, or 'inherit' to show them on the terminal. */
  output: string | 'inherit';
  uid?: number;
  gid?: number;
  /** First signal on stop (default SIGTERM); SIGKILL follows after stopTimeoutMs. */
  stopSignal?: NodeJS.Signals;
  stopTimeoutMs?: number;
  /**
   * Signal the child gets if this process dies without stopping it (crash, SIGKILL), through
   * Linux' parent-death signal (`setpriv --pdeathsig`, util-linux). Default SIGTERM; null = none.
   */
  parentDeathSignal?: NodeJS.Signals | null;
}

const SETPRIV =
  process.platform === 'linux' ? ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p)) : undefined;

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class ManagedProcess {
  readonly exited: Promise<Exit>;
  private exit: Exit | undefined;
  private readonly child: ChildProcess;

  private constructor(readonly spec: ProcessSpec) {
    const logFd = spec.output === 'inherit' ? undefined : openSync(spec.output, 'a');
    try {
      const deathSignal = spec.parentDeathSignal === undefined ? 'SIGTERM' : spec.parentDeathSignal;
      const [command, args] =
        SETPRIV && deathSignal
          ? [SETPRIV, ['--pdeathsig', deathSignal, '--', spec.command, ...spec.args]]
          : [spec.command, spec.args];
      this.child = spawn(command, args, {
        cwd: spec.cwd,
        env: spec.env ?? process.env,
        detached: true,
        stdio: ['ignore', logFd ?? 'inherit', logFd ?? 'inherit'],
        ...(spec.uid !== undefined ? { uid: spec.uid } : {}),
        ...(spec.gid !== undefined ? { gid: spec.gid } : {}),
      });
    } finally {
      if (logFd !== undefined) closeSync(logFd);
    }
    this.exited = new Promise<Exit>((resolve) => {
      this.child.once('error', (err) => {
        this.exit = { code: 127, signal: null };
        console.error(`[stack] ${spec.name}: could not start ${spec.command}: ${err.message}`);
        resolve(this.exit);
      });
      this.child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      });
    });
  }

  static start(spec: ProcessSpec): ManagedProcess {
    return new ManagedProcess(spec);
  }

  get name(): string {
    return this.spec.name;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  /** The last lines of the log file, for error messages. */
  logTail(lines = 5): string {
    if (this.spec.output === 'inherit') return '';
    try {
      return readFileSync(this.spec.output, 'utf8').trim().split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }

  private signalGroup(signal: NodeJS.Signals): void {
    const pid = this.child.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, signal);
    } catch {
      // group already gone
    }
  }

  /** SIGKILL to the whole group (the process and what it started): no drain, no goodbye. */
  async kill(): Promise<Exit> {
    if (this.running) this.signalGroup('SIGKILL');
    return this.exited;
  }

  /** Stops the process (first signal to the leader only, so e.g. a worker can drain), then the group. */
  async stop(): Promise<Exit> {
    const pid = this.child.pid;
    if (this.running && pid !== undefined) {
      try {
        process.kill(pid, this.spec.stopSignal ?? 'SIGTERM');
      } catch {}
      const timeout = this.spec.stopTimeoutMs ?? 10_000;
      const result = await Promise.race([this.exited, sleep(timeout, undefined, { ref: false })]);
      if (result === undefined) {
        console.error(`[stack] ${this.name} did not stop within ${timeout / 1000}s; killing it`);
        this.signalGroup('SIGKILL');
      }
    }
    const exit = await this.exited;
    // Anything the child left in its group (grandchildren) goes too.
    this.signalGroup('SIGKILL');
    return exit;
  }
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return await new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function portInUse(port: number, host = '127.0.0.1'): Promise<boolean> {
  return await new Promise<boolean>((resolve) => {
    const socket = connect({ port, host });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export async function waitForTcp(port: number, timeoutMs: number, host = '127.0.0.1'): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await portInUse(port, host)) return true;
    await sleep(50);
  }
  return false;
}

/**
 * Polls `check` until it resolves, the process exits, or the timeout passes; the error names the
 * component and shows its log's tail.
 */
export async function waitUntilReady(
  proc: ManagedProcess,
  check: () => Promise<unknown>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (!proc.running) {
      const exit = await proc.exited;
      throw new Error(
        `${proc.name} exited during start-up (code ${exit.code}, signal ${exit.signal})${tailSuffix(proc)}`,
      );
    }
    try {
      await check();
      return;
    } catch (err) {
      lastError = err;
    }
    await sleep(100);
  }
  await proc.stop();
  throw new Error(
    `${proc.name} did not become ready within ${timeoutMs / 1000}s (${(lastError as Error)?.message ?? 'no answer'})${tailSuffix(proc)}`,
  );
}

function tailSuffix(proc: ManagedProcess): string {
  const tail = proc.logTail();
  return tail ? `; log ${proc.spec.output}:\n${tail}` : '';
}
