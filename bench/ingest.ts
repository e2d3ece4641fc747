/**
 * `npm run bench:ingest`: the ingestion write path against the seed's pattern and COPY, in one run
 * on the same PostgreSQL, then end to end through moto's SQS with the real consumer process.
 *
 *   (a) write path   writeBatch(), INGEST_BATCH_MESSAGES (500) messages per transaction, as the
 *                    consumer runs it: INGEST_WRITERS (2) batches at once, taken in order
 *   (a1)             the same with one writer (INGEST_WRITERS=1): one batch after the other
 *   (a10)            (a) at 10 messages per transaction (one ReceiveMessage's worth)
 *   (b) seed         one INSERT per row, each its own transaction (as the seed's Lambda did)
 *   (c) COPY         COPY of the same rows, one transaction: the ceiling (the goal's reference)
 *   (c500)           the same COPY, one transaction per 500 messages (the write path's commits)
 *   (e2e)            `src/ingest/main.ts` as 1, then 4 child processes on one moto queue; their RSS
 *
 * rows = raw_mqtt_data rows + processed_data rows (all of them write the same rows, into the same
 * time-partitioned tables: the data's day and month partitions are created first). On top of that
 * the write path asks layer 2 which messages are new (COPY and the seed check nothing) and keeps
 * device_last_reading (one upserted row per device and batch, not counted in rows). The tables are emptied before
 * each measurement. PostgreSQL runs with its default durability (fsync on,
 * synchronous_commit on). Results are printed and appended to bench/results.md.
 *
 * Environment: BENCH_MESSAGES (default 10000), BENCH_ROUNDS (default 3; medians are reported),
 * BENCH_SEED_MESSAGES (default 1000),
 * BENCH_E2E_MESSAGES (default 3000 per run; 0 skips), BENCH_E2E_PROCESSES (default 1,4), BENCH_DATABASE_URL (use this server instead of a
 * fresh embedded one: its telemetry tables are TRUNCATED), AWS_ENDPOINT_URL (an existing moto).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { migrateDatabase } from '../src/db/migrate.js';
import { maintainPartitions } from '../src/db/partitions.js';
import { copyField } from '../src/ingest/copy-rows.js';
import { parseMessage, type Reading } from '../src/ingest/message.js';
import { INGEST_DEFAULTS } from '../src/ingest/settings.js';
import { sendToQueue, TelemetrySimulator } from '../src/ingest/simulator.js';
import { writeBatch } from '../src/ingest/store.js';
import { type Component, MOTO_CREDENTIALS, startMoto, startPostgres } from '../tools/stack/components.js';
import { freePort } from '../tools/stack/processes.js';
import { ensureTools } from '../tools/stack/tools.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const int = (name: string, def: number) => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name}=${raw} is not a whole number; unset it or use e.g. ${def}`);
  return n;
};
const MESSAGES = int('BENCH_MESSAGES', 10_000);
const ROUNDS = Math.max(1, int('BENCH_ROUNDS', 3));
const SEED_MESSAGES = int('BENCH_SEED_MESSAGES', 1_000);
const E2E_MESSAGES = int('BENCH_E2E_MESSAGES', 3_000);
const E2E_PROCESSES = (process.env.BENCH_E2E_PROCESSES || '1,4').split(',').map((v) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 16) throw new Error(`BENCH_E2E_PROCESSES=${v}: use e.g. 1,4 (1 to 16)`);
  return n;
});

const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);

function readings(count: number, seed: number): Reading[] {
  const sim = new TelemetrySimulator({ plants: 20, devices: 10, seed, start: new Date('2024-06-21T00:00:00Z'), stepMs: 60_000, plantPrefix: `bench${seed}` });
  return Array.from({ length: count }, (_, i) => {
    const m = sim.next();
    const parsed = parseMessage(m.body, `bench-${seed}-${i}`, { maxBodyBytes: INGEST_DEFAULTS.maxBodyBytes, now: () => Date.UTC(2025, 0, 1) });
    if (!parsed.ok) throw new Error(`simulator produced an invalid message: ${parsed.rejection.detail}`);
    return parsed.reading;
  });
}

const rowsOf = (rs: readonly Reading[]) => rs.reduce((n, r) => n + 1 + r.metrics.length, 0);

async function truncate(pool: pg.Pool): Promise<void> {
  await pool.query('TRUNCATE raw_mqtt_data, processed_data, quarantine, device_last_reading');
  await pool.query('VACUUM ANALYZE raw_mqtt_data, processed_data');
  await pool.query('CHECKPOINT');
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

/**
 * (a): the consumer's write path, `size` messages per transaction, `writers` batches at once, each
 * writer taking the next batch when its own is committed (as the consumer's writers do).
 */
async function writePath(
  pool: pg.Pool,
  rs: readonly Reading[],
  size: number,
  writers = INGEST_DEFAULTS.writers,
): Promise<number> {
  return timed(async () => {
    let next = 0;
    const writer = async () => {
      for (let i = next; i < rs.length; i = next) {
        next += size;
        await writeBatch(pool, rs.slice(i, i + size), []);
      }
    };
    await Promise.all(Array.from({ length: writers }, writer));
  });
}

/** (b): the seed's Lambda: an INSERT per row, autocommitted. */
async function seedPattern(pool: pg.Pool, rs: readonly Reading[]): Promise<number> {
  const client = await pool.connect();
  try {
    return await timed(async () => {
      for (const r of rs) {
        await client.query(
          `INSERT INTO raw_mqtt_data (message_id, message_hash, plant_id, device_id, "timestamp", payload)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
          [r.messageId, r.hash, r.plantId, r.deviceId, r.timestamp, r.body],
        );
        for (const [tag, value] of r.metrics) {
          await client.query(
            `INSERT INTO processed_data (device_id, tag_id, "timestamp", value, plant_id)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (plant_id, tag_id, "timestamp", device_id) DO NOTHING`,
            [r.deviceId, tag, r.timestamp, value, r.plantId],
          );
        }
      }
    });
  } finally {
    client.release();
  }
}

/** (c): COPY of the same rows (no conflict handling: the ceiling), `size` messages per transaction. */
async function copyCeiling(pool: pg.Pool, all: readonly Reading[], size = all.length): Promise<number> {
  const client = await pool.connect();
  try {
    return await timed(async () => {
      for (let i = 0; i < all.length; i += size) {
        const rs = all.slice(i, i + size);
        await client.query('BEGIN');
        const raw = rs.map((r) => `${r.messageId}\t${r.hash}\t${r.plantId}\t${r.deviceId}\t${r.timestamp}\t${copyField(r.body)}\n`);
        await pipeline(
          async function* () {
            for (let i = 0; i < raw.length; i += 1000) yield raw.slice(i, i + 1000).join('');
          },
          client.query(copyFrom('COPY raw_mqtt_data (message_id, message_hash, plant_id, device_id, "timestamp", payload) FROM STDIN')),
        );
        await pipeline(
          async function* () {
            let chunk = '';
            for (const r of rs) {
              for (const [tag, value] of r.metrics) chunk += `${r.deviceId}\t${tag}\t${r.timestamp}\t${value}\t${r.plantId}\n`;
              if (chunk.length > 64_000) {
                yield chunk;
                chunk = '';
              }
            }
            if (chunk) yield chunk;
          },
          client.query(copyFrom('COPY processed_data (device_id, tag_id, "timestamp", value, plant_id) FROM STDIN')),
        );
        await client.query('COMMIT');
      }
    });
  } finally {
    client.release();
  }
}

interface E2E {
  processes: number;
  messages: number;
  seconds: number;
  perSecond: number;
  /** Per process: median and max RSS in the second half of the run. */
  rssMiB: { median: number; max: number }[];
}

/**
 * End to end: `processes` consumer processes on one queue drain a steady stream. The sender keeps
 * at most `backlog` messages ahead of the consumers' deletions, because moto's SQS spends
 * O(messages in the queue) on every message it sends or receives (it recomputes the queue
 * attributes each time): a deep backlog measures moto, not the consumer. Against real SQS the
 * backlog costs nothing. The readings are of the last hour (their partitions exist: each process
 * runs the partition maintenance at start, as in production).
 */
async function endToEnd(
  endpoint: string,
  databaseUrl: string,
  count: number,
  processes: number,
  backlog = 100,
): Promise<E2E> {
  const sqs = new SQSClient({ endpoint, region: 'us-east-1', credentials: MOTO_CREDENTIALS });
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: `bench-${Date.now()}` }));
  const queueUrl = QueueUrl as string;
  const sim = new TelemetrySimulator({
    plants: 20,
    devices: 10,
    seed: 7,
    start: new Date(Date.now() - 3_600_000),
    stepMs: Math.floor(3_000_000 / Math.ceil(count / 200)), // every reading within the last hour
    plantPrefix: `e2e${Date.now().toString(36)}`,
  });
  const messages = Array.from({ length: count }, () => sim.next());
  const children: { child: ChildProcess; port: number; exited: Promise<void>; rss: number[] }[] = [];
  for (let i = 0; i < processes; i++) {
    const port = await freePort();
    const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'src/ingest/main.ts'], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'inherit'],
      env: {
        ...process.env,
        AWS_ENDPOINT_URL: endpoint,
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: MOTO_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: MOTO_CREDENTIALS.secretAccessKey,
        AWS_SQS_QUEUE_URL: queueUrl,
        DATABASE_URL: databaseUrl,
        ENCRYPTION_KEY: randomBytes(32).toString('hex'),
        METRICS_PORT: String(port),
        INGEST_WAIT_SECONDS: '1',
        INGEST_LINGER_MS: '20',
        LOG_LEVEL: 'warn',
      },
    });
    children.push({ child, port, exited: new Promise<void>((r) => child.on('exit', () => r())), rss: [] });
  }
  const deletedBy = async (port: number): Promise<number | undefined> => {
    try {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      return Number(/^ingest_messages_deleted_total (\d+)/m.exec(text)?.[1] ?? 0);
    } catch {
      return undefined; // not listening yet
    }
  };
  const deleted = async (): Promise<number | undefined> => {
    const each = await Promise.all(children.map((c) => deletedBy(c.port)));
    return each.some((n) => n === undefined) ? undefined : each.reduce((a: number, n) => a + (n ?? 0), 0);
  };
  const sampler = setInterval(() => {
    for (const c of children) {
      readFile(`/proc/${c.child.pid}/status`, 'utf8')
        .then((status) => {
          const kb = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
          if (kb > 0) c.rss.push(kb / 1024);
        })
        .catch(() => undefined);
    }
  }, 500);
  const exitedEarly = () => children.some((c) => c.child.exitCode !== null);
  try {
    while ((await deleted()) === undefined) {
      if (exitedEarly()) throw new Error('a consumer exited at start-up');
      await new Promise((r) => setTimeout(r, 100));
    }
    log(`e2e: streaming ${count} messages through moto to ${processes} consumer process(es) (backlog <= ${backlog})`);
    const t0 = performance.now();
    let sent = 0;
    for (;;) {
      const done = (await deleted()) ?? 0;
      if (done >= count) break;
      if (exitedEarly()) throw new Error('a consumer exited early');
      if (sent < count && done >= sent - backlog) {
        sent += await sendToQueue(sqs, queueUrl, messages.slice(sent, sent + backlog));
      } else {
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    for (const c of children) c.child.kill('SIGTERM');
    await Promise.all(children.map((c) => c.exited));
    const attrs = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages'] }),
    );
    if (Number(attrs.Attributes?.ApproximateNumberOfMessages) !== 0) throw new Error('messages left in the queue');
    // Steady state: the second half of the run (start-up and warm-up excluded).
    const rssMiB = children.map((c) => {
      const steady = c.rss.slice(Math.floor(c.rss.length / 2)).sort((a, b) => a - b);
      return { median: steady[Math.floor(steady.length / 2)] ?? 0, max: steady[steady.length - 1] ?? 0 };
    });
    return { processes, messages: count, seconds, perSecond: count / seconds, rssMiB };
  } finally {
    clearInterval(sampler);
    for (const c of children) if (c.child.exitCode === null) c.child.kill('SIGKILL');
    sqs.destroy();
  }
}

function machine(pgVersion: string, load: number[]): string {
  const cpu = cpus();
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).toString().trim();
  } catch {}
  return [
    `${cpu.length} x ${cpu[0]?.model ?? 'unknown CPU'}`,
    `${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM`,
    `load average at start ${load.map((l) => l.toFixed(2)).join(' ')}`,
    `Node ${process.version}`,
    `PostgreSQL ${pgVersion}`,
    `commit ${commit}`,
  ].join(', ');
}

async function main(): Promise<void> {
  const running: Component[] = [];
  const work = await mkdtemp(join(tmpdir(), 'solar-iot-bench-'));
  const startLoad = loadavg();
  try {
    const tools = await ensureTools({ postgres: !process.env.BENCH_DATABASE_URL, moto: E2E_MESSAGES > 0 && !process.env.AWS_ENDPOINT_URL });
    let databaseUrl = process.env.BENCH_DATABASE_URL ?? '';
    if (!databaseUrl) {
      if (!tools.postgres) throw new Error('no PostgreSQL binaries');
      // PostgreSQL runs as `postgres` when we are root: the folder must be traversable.
      execFileSync('chmod', ['0711', work]);
      const server = await startPostgres({ binaries: tools.postgres, dataDir: join(work, 'pg'), port: await freePort(), database: 'bench', logFile: join(work, 'pg.log') });
      running.push(server);
      databaseUrl = server.url;
    }
    await migrateDatabase(databaseUrl);
    const pool = new pg.Pool({ connectionString: databaseUrl, max: Math.max(2, INGEST_DEFAULTS.writers) });
    // The partitions of the data's day and month (readings of 2024-06-21), as the consumer makes them.
    const maintainer = await pool.connect();
    try {
      await maintainPartitions(maintainer, { rawRetentionDays: 2, processedRetentionDays: 30, aheadDays: 1 }, new Date('2024-06-22T00:00:00Z'));
    } finally {
      maintainer.release();
    }
    const pgVersion = (await pool.query<{ v: string }>('SELECT current_setting($$server_version$$) AS v')).rows[0]?.v ?? '?';
    const durability = (await pool.query<{ f: string; s: string }>("SELECT current_setting('fsync') AS f, current_setting('synchronous_commit') AS s")).rows[0];

    const all = readings(MESSAGES, 1);
    const seedSet = all.slice(0, Math.min(SEED_MESSAGES, MESSAGES));
    const rows = rowsOf(all);
    log(`${MESSAGES} messages = ${rows} rows (${(rows / MESSAGES).toFixed(0)} per message); seed pattern on ${seedSet.length} messages`);

    // Warm-up: plans, caches, connection.
    await truncate(pool);
    await writePath(pool, all.slice(0, 1000), INGEST_DEFAULTS.batchMessages);
    await truncate(pool);
    await copyCeiling(pool, all.slice(0, 1000));

    // Each measurement ROUNDS times, interleaved, on emptied tables; the median counts (a busy
    // machine makes single runs noisy). The seed pattern is slow: its subset, once per round too.
    const results: Record<string, { rows: number; seconds: number; runs: number[] }> = {};
    const measure = async (name: string, set: readonly Reading[], fn: () => Promise<number>) => {
      await truncate(pool);
      const seconds = await fn();
      const entry = (results[name] ??= { rows: rowsOf(set), seconds: 0, runs: [] });
      entry.runs.push(seconds);
      const sorted = [...entry.runs].sort((x, y) => x - y);
      entry.seconds = sorted[Math.floor(sorted.length / 2)] ?? seconds;
      log(`${name}: ${rowsOf(set)} rows in ${seconds.toFixed(2)} s = ${Math.round(rowsOf(set) / seconds)} rows/s`);
    };
    for (let round = 1; round <= ROUNDS; round++) {
      log(`round ${round} of ${ROUNDS}`);
      await measure('a', all, () => writePath(pool, all, INGEST_DEFAULTS.batchMessages));
      await measure('a1', all, () => writePath(pool, all, INGEST_DEFAULTS.batchMessages, 1));
      await measure('c', all, () => copyCeiling(pool, all));
      await measure('c500', all, () => copyCeiling(pool, all, INGEST_DEFAULTS.batchMessages));
      await measure('a10', all, () => writePath(pool, all, 10));
      await measure('b', seedSet, () => seedPattern(pool, seedSet));
    }
    await truncate(pool);
    await pool.end();

    const rate = (k: string) => {
      const r = results[k];
      return r ? r.rows / r.seconds : 0;
    };
    const e2e: E2E[] = [];
    if (E2E_MESSAGES > 0) {
      let endpoint = process.env.AWS_ENDPOINT_URL ?? '';
      if (!endpoint) {
        if (!tools.motoServer) throw new Error('no moto');
        const moto = await startMoto({ bin: tools.motoServer, port: await freePort(), logFile: join(work, 'moto.log') });
        running.push(moto);
        endpoint = moto.endpoint;
      }
      for (const processes of E2E_PROCESSES) e2e.push(await endToEnd(endpoint, databaseUrl, E2E_MESSAGES, processes));
    }

    const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
    const lines = [
      `### ${new Date().toISOString()} — \`npm run bench:ingest\``,
      '',
      `Machine: ${machine(pgVersion, startLoad)}; fsync=${durability?.f}, synchronous_commit=${durability?.s}.`,
      `Data: ${MESSAGES} simulated messages, ${(rows / MESSAGES).toFixed(0)} rows each (1 raw + 8 metrics); seed pattern on the first ${seedSet.length}.`,
      '',
      `| path | rows | median of ${ROUNDS} (s) | rows/s | vs seed (b) | vs COPY (c) |`,
      '|---|---:|---:|---:|---:|---:|',
      ...(
        [
          [`(a) write path, 500 msgs/transaction, ${INGEST_DEFAULTS.writers} writers`, 'a'],
          ['(a1) write path, 500 msgs/transaction, 1 writer', 'a1'],
          [`(a10) write path, 10 msgs/transaction, ${INGEST_DEFAULTS.writers} writers`, 'a10'],
          ['(b) seed: one INSERT per row, autocommit', 'b'],
          ['(c) COPY, one transaction (ceiling)', 'c'],
          ['(c500) COPY, 500 msgs/transaction', 'c500'],
        ] as const
      ).map(([label, k]) => {
        const r = results[k];
        return `| ${label} | ${fmt(r?.rows ?? 0)} | ${(r?.seconds ?? 0).toFixed(2)} | ${fmt(rate(k))} | ${(rate(k) / rate('b')).toFixed(1)}x | ${((100 * rate(k)) / rate('c')).toFixed(0)}% |`;
      }),
      '',
      `Ratio (a)/(b) = ${(rate('a') / rate('b')).toFixed(1)} (target >= 10); (a)/(c) = ${(rate('a') / rate('c')).toFixed(2)} (target >= 0.8); (a)/(c500) = ${(rate('a') / rate('c500')).toFixed(2)}; one writer (a1)/(c) = ${(rate('a1') / rate('c')).toFixed(2)}.`,
      `Per round, back to back: (a)/(c) ${(results.a?.runs ?? []).map((t, i) => ((results.c?.runs[i] ?? 0) / t).toFixed(2)).join(', ')}; (a)/(c500) ${(results.a?.runs ?? []).map((t, i) => ((results.c500?.runs[i] ?? 0) / t).toFixed(2)).join(', ')}.`,
      'Rows = raw_mqtt_data + processed_data rows, the same in every path; (a) also asks layer 2 which messages are new and upserts device_last_reading (one row per device and batch, not counted); (b), (c) and (c500) check nothing.',
      ...e2e.map(
        (r) =>
          `End to end, ${r.processes} consumer process${r.processes > 1 ? 'es' : ''} (simulator -> moto SQS -> src/ingest/main.ts, 4 pollers each -> PostgreSQL; ${r.messages} messages, backlog <= 100): ${r.perSecond.toFixed(0)} messages/s in ${r.seconds.toFixed(1)} s; RSS at steady state (median/max MiB per process) ${r.rssMiB.map((m) => `${m.median.toFixed(0)}/${m.max.toFixed(0)}`).join(', ')}.`,
      ),
      e2e.length > 0
        ? "End to end goes through moto's SQS (Python; O(queue depth) per message): compare the runs with each other, not with real SQS."
        : 'End to end: skipped (BENCH_E2E_MESSAGES=0).',
      startLoad[0] !== undefined && startLoad[0] > cpus().length
        ? `Note: the machine was busy (load ${startLoad[0].toFixed(1)} on ${cpus().length} cores); figures are pessimistic.`
        : '',
      '',
    ];
    const text = lines.join('\n');
    process.stdout.write(`${text}\n`);
    await appendFile(join(ROOT, 'bench', 'results.md'), `${text}\n`);
    log('appended to bench/results.md');
  } finally {
    for (const c of running.reverse()) await c.stop().catch(() => undefined);
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:ingest: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
