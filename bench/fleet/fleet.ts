/**
 * Starts N worker processes (bench/fleet/worker.ts) as children of the benchmark, waits until
 * each has its workers running, and stops them: each one's CPU seconds (from /proc) and RSS
 * samples come back for the report.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { cpuSecondsOf } from '../stack.js';
import type { FleetWorkerConfig, FleetWorkerMessage } from './worker.js';

export interface FleetResult {
  pid: number;
  /** CPU seconds between `markStart()` and the workers' stop. */
  cpuSeconds: number;
  /** RSS samples, one a second from the start of its workers. */
  rssMiB: number[];
}

export interface Fleet {
  pids: number[];
  /** Remembers each process's CPU seconds so far (call right before the measured run). */
  markStart(): void;
  /** Shuts every worker set down gracefully and waits for the processes to report and exit. */
  stop(): Promise<FleetResult[]>;
  /** Kills whatever is left (after a failure). */
  kill(): void;
}

const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url));

export async function startFleet(
  n: number,
  config: Omit<FleetWorkerConfig, 'index'>,
): Promise<Fleet> {
  const children: ChildProcess[] = [];
  const done = new Map<number, Promise<FleetWorkerMessage>>();
  const ready: Promise<void>[] = [];
  for (let index = 0; index < n; index++) {
    const child = fork(WORKER, [], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, FLEET_WORKER: JSON.stringify({ ...config, index }) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    children.push(child);
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code, signal) =>
        reject(new Error(`fleet worker ${index} (pid ${child.pid}) exited (${code ?? signal})`)),
      ),
    );
    exited.catch(() => undefined);
    const messages = (type: FleetWorkerMessage['type']) =>
      Promise.race([
        new Promise<FleetWorkerMessage>((resolve, reject) => {
          const on = (m: FleetWorkerMessage) => {
            if (m.type === 'failed') reject(new Error(`fleet worker ${index}: ${m.error}`));
            else if (m.type === type) {
              child.off('message', on);
              resolve(m);
            }
          };
          child.on('message', on);
        }),
        exited,
      ]);
    ready.push(messages('ready').then(() => undefined));
    done.set(index, messages('done'));
    for (const p of done.values()) p.catch(() => undefined);
  }
  const kill = () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  };
  try {
    await Promise.all(ready);
  } catch (error) {
    kill();
    throw error;
  }
  const pids = children.map((c) => c.pid as number);
  let start = new Map<number, number>();
  return {
    pids,
    kill,
    markStart() {
      start = new Map(pids.map((pid) => [pid, cpuSecondsOf(pid)]));
    },
    async stop() {
      const exits = children.map(
        (c) => new Promise<void>((resolve) => (c.exitCode !== null ? resolve() : c.once('exit', () => resolve()))),
      );
      // CPU up to now: the measured run is over, what follows is shutdown.
      const cpu = pids.map((pid) => cpuSecondsOf(pid) - (start.get(pid) ?? 0));
      for (const c of children) c.send({ type: 'stop' });
      const results: FleetResult[] = [];
      for (const [index, p] of done) {
        const m = await p;
        results.push({
          pid: pids[index] as number,
          cpuSeconds: cpu[index] ?? Number.NaN,
          rssMiB: m.type === 'done' ? m.rssMiB : [],
        });
      }
      await Promise.race([Promise.all(exits), new Promise((r) => setTimeout(r, 15_000))]);
      kill();
      return results;
    },
  };
}
