/**
 * The local stack for the provisioning benchmarks: moto, PostgreSQL (migrated) and the Temporal
 * dev server, started with tools/stack/components.ts on free ports, or taken from AWS_ENDPOINT_URL,
 * DATABASE_URL and TEMPORAL_ADDRESS when set. Plus the machine line and the results file.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { appendFile, chmod, mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IoTClient } from '@aws-sdk/client-iot';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import Table from 'cli-table3';
import { type ActivityDeps, createActivities, type IotSettings } from '../src/activities/index.js';
import { loadPayloadCodec } from '../src/codec/data-converter.js';
import { createCipher } from '../src/crypto/encryption.js';
import { createDb, type DbHandle } from '../src/db/client.js';
import { migrateDatabase } from '../src/db/migrate.js';
import type { FaultInjector } from '../tools/faults/index.js';
import {
  type Component,
  MOTO_ACCOUNT_ID,
  MOTO_CREDENTIALS,
  createMotoQueue,
  startMoto,
  startPostgres,
  startTemporalDevServer,
} from '../tools/stack/components.js';
import { freePort } from '../tools/stack/processes.js';
import { ensureTools } from '../tools/stack/tools.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);
export const int = (name: string, def: number): number => {
  const raw = process.env[name];
  const n = raw ? Number(raw) : def;
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a whole number >= 1 (got ${raw})`);
  return n;
};

export interface BenchStack {
  databaseUrl: string;
  awsEndpoint: string;
  temporalAddress: string;
  encryptionKey: string;
  stop(): Promise<void>;
}

export async function startBenchStack(): Promise<BenchStack> {
  const ext = {
    db: process.env.DATABASE_URL,
    aws: process.env.AWS_ENDPOINT_URL,
    temporal: process.env.TEMPORAL_ADDRESS,
  };
  const tools = await ensureTools({
    temporalCli: !ext.temporal,
    testServer: false,
    moto: !ext.aws,
    postgres: !ext.db,
  });
  const work = await mkdtemp(join(tmpdir(), 'solar-iot-bench-'));
  // PostgreSQL runs as user `postgres` when we are root: it must be able to traverse this folder.
  await chmod(work, 0o711);
  const running: Component[] = [];
  const track = <C extends Component>(c: C) => {
    running.push(c);
    return c;
  };
  const stop = async () => {
    for (const c of running.reverse()) await c.stop().catch(() => undefined);
    await rm(work, { recursive: true, force: true });
  };
  try {
    const [pg, moto, temporal] = await Promise.all([
      ext.db || !tools.postgres
        ? undefined
        : startPostgres({
            binaries: tools.postgres,
            dataDir: join(work, 'postgres'),
            port: await freePort(),
            database: 'solar_iot_bench',
            logFile: join(work, 'postgres.log'),
            fast: true,
          }).then(track),
      ext.aws || !tools.motoServer
        ? undefined
        : startMoto({ bin: tools.motoServer, port: await freePort(), logFile: join(work, 'moto.log') }).then(
            track,
          ),
      ext.temporal || !tools.temporalCli
        ? undefined
        : startTemporalDevServer({
            tool: tools.temporalCli,
            port: await freePort(),
            logFile: join(work, 'temporal.log'),
            ...(process.env.BENCH_EAGER_ACTIVITIES === '1'
              ? { dynamicConfig: { 'system.enableActivityEagerExecution': true } }
              : {}),
          }).then(track),
    ]);
    const databaseUrl = ext.db ?? pg?.url ?? '';
    await migrateDatabase(databaseUrl);
    if (moto) {
      process.env.AWS_ACCESS_KEY_ID = MOTO_CREDENTIALS.accessKeyId;
      process.env.AWS_SECRET_ACCESS_KEY = MOTO_CREDENTIALS.secretAccessKey;
    }
    process.env.AWS_REGION ??= 'us-east-1';
    return {
      databaseUrl,
      awsEndpoint: ext.aws ?? moto?.endpoint ?? '',
      temporalAddress: ext.temporal ?? temporal?.address ?? '',
      encryptionKey: process.env.ENCRYPTION_KEY || 'bench-encryption-key-0123456789abcdef0123456789',
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Clients, database and activities as the worker builds them, on the bench stack. */
export async function productWiring(stack: BenchStack, faults?: FaultInjector) {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const region = process.env.AWS_REGION ?? 'us-east-1';
  const sqsQueueUrl = await createMotoQueue(stack.awsEndpoint, region, 'solar-plant-data');
  const iot = new IoTClient({ region, endpoint: stack.awsEndpoint, maxAttempts: 1 });
  if (faults) faults.install(iot);
  const database: DbHandle = createDb(stack.databaseUrl);
  const { dataConverter } = await loadPayloadCodec({}, { currentKey: stack.encryptionKey, previousKeys: [] });
  const connection = await Connection.connect({ address: stack.temporalAddress });
  const temporal = new Client({ connection, dataConverter });
  const nativeConnection = await NativeConnection.connect({ address: stack.temporalAddress });
  const settings: IotSettings = {
    certificateMode: 'csr',
    topicRuleMode: 'shared',
    policyMode: process.env.POLICY_MODE === 'per-plant' ? 'per-plant' : 'shared',
    sqsQueueUrl,
    iotRoleArn: `arn:aws:iam::${MOTO_ACCOUNT_ID}:role/solar-iot-rule`,
    iotEndpoint: 'bench-ats.iot.us-east-1.amazonaws.com',
    pollIntervalMs: 200,
  };
  const deps: ActivityDeps = {
    iot,
    db: database.db,
    vault: createCipher({ currentKey: stack.encryptionKey }),
    temporal,
    settings,
  };
  return {
    iot,
    database,
    dataConverter,
    temporal,
    nativeConnection,
    activities: createActivities(deps),
    async close() {
      await nativeConnection.close();
      await connection.close();
      await database.close();
      iot.destroy();
    },
  };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? Number.NaN;
}

export function machine(): string {
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).toString().trim();
  } catch {}
  const cpu = cpus();
  return [
    `${cpu.length} x ${cpu[0]?.model ?? 'unknown CPU'}`,
    `${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM`,
    `load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
    `Node ${process.version}`,
    `commit ${commit}`,
  ].join(', ');
}

/** Prints the table and appends a section (title, machine, table, notes) to bench/results.md. */
export async function report(title: string, head: string[], rows: (string | number)[][], notes: string[]) {
  const table = new Table({ head });
  for (const row of rows) table.push(row.map(String));
  process.stdout.write(`${table.toString()}\n${notes.join('\n')}\n`);
  const md = [
    `### ${new Date().toISOString()} — ${title}`,
    '',
    `Machine: ${machine()}.`,
    '',
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
    '',
    ...notes.map((n) => `${n}  `),
    '',
  ].join('\n');
  await appendFile(join(ROOT, 'bench', 'results.md'), `${md}\n`);
  log('appended to bench/results.md');
}

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ): 100 on Linux. */
export const TICKS_PER_SECOND = 100;

/** Parent, command and CPU ticks (user + system, threads included) of one process from /proc. */
function procStat(pid: number | string): { ppid: number; comm: string; ticks: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const close = stat.lastIndexOf(')');
  // After the command (which may hold spaces): state(0) ppid(1) ... utime(11) stime(12)
  const fields = stat.slice(close + 2).split(' ');
  return {
    ppid: Number(fields[1]),
    comm: stat.slice(stat.indexOf('(') + 1, close),
    ticks: Number(fields[11]) + Number(fields[12]),
  };
}

/** User + system CPU seconds of one process (its threads included), NaN off Linux or once gone. */
export function cpuSecondsOf(pid: number): number {
  try {
    return procStat(pid).ticks / TICKS_PER_SECOND;
  } catch {
    return Number.NaN;
  }
}

/** CPU seconds (user + system) of this process and its descendants, by kind; empty off Linux. */
export function cpuOfProcessTree(rootPid = process.pid): Map<string, number> {
  const out = new Map<string, number>();
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((e) => /^\d+$/.test(e));
  } catch {
    return out;
  }
  const procs = new Map<number, { ppid: number; comm: string; ticks: number }>();
  for (const pid of entries) {
    try {
      procs.set(Number(pid), procStat(pid));
    } catch {}
  }
  const children = new Map<number, number[]>();
  for (const [pid, p] of procs) children.set(p.ppid, [...(children.get(p.ppid) ?? []), pid]);
  const kind = (comm: string) =>
    /^(node|tsx)/.test(comm)
      ? 'node (worker + bench client)'
      : /temporal/.test(comm)
        ? 'temporal dev server'
        : /moto|python/.test(comm)
          ? 'moto'
          : /postgres/.test(comm)
            ? 'postgres'
            : comm;
  const queue = [rootPid];
  while (queue.length) {
    const pid = queue.shift() as number;
    const p = procs.get(pid);
    if (p) out.set(kind(p.comm), (out.get(kind(p.comm)) ?? 0) + p.ticks / TICKS_PER_SECOND);
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** Busy and total CPU seconds of the whole machine so far (every process, ours or not). */
export function machineCpu(): { busy: number; total: number } {
  try {
    const [, ...v] = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/);
    const n = v.map(Number);
    const total = n.slice(0, 8).reduce((a, b) => a + b, 0) / 100;
    const idle = ((n[3] ?? 0) + (n[4] ?? 0)) / 100;
    return { busy: total - idle, total };
  } catch {
    return { busy: Number.NaN, total: Number.NaN };
  }
}

/** `cpuOfProcessTree` and `machineCpu` differences over a run, as one line for the results. */
export function cpuReport(
  before: { tree: Map<string, number>; machine: { busy: number; total: number } },
  seconds: number,
): string {
  const after = cpuOfProcessTree();
  const machine = machineCpu();
  const cores = cpus().length;
  const parts = [...after]
    .map(([k, v]) => [k, v - (before.tree.get(k) ?? 0)] as const)
    .filter(([, v]) => v > 0.05)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v.toFixed(1)} s (${((100 * v) / (seconds * cores)).toFixed(0)}%)`);
  const ours = [...after].reduce((a, [k, v]) => a + v - (before.tree.get(k) ?? 0), 0);
  const busy = machine.busy - before.machine.busy;
  const total = machine.total - before.machine.total;
  return (
    `CPU during the run, share of ${cores} cores x ${seconds.toFixed(0)} s: ${parts.join(', ')}; ` +
    `this benchmark ${((100 * ours) / (seconds * cores)).toFixed(0)}%, the whole machine ${((100 * busy) / total).toFixed(0)}% busy (the rest is other work on the machine).`
  );
}

export function cpuSnapshot() {
  return { tree: cpuOfProcessTree(), machine: machineCpu() };
}
