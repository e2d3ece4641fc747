/**
 * The container image's HEALTHCHECK: `node dist/healthcheck.js <role>` exits 0 when the role's
 * process answers, 1 with one line saying what did not. It runs beside the role in its container,
 * with the same variables, so it probes what that role listens on:
 *
 *   api     GET /healthz on PORT
 *   ingest  GET /healthz on METRICS_PORT (the metrics endpoint, answered by the consumer's event
 *           loop); with METRICS_PORT=0 there is no listener, so its database answering
 *           (DATABASE_URL, SELECT 1) is all that can be asked: the queue is not, because the ingest
 *           role's IAM policy (deploy/iam/ingest.json) grants no GetQueueAttributes on it
 *   codec   any HTTP answer on CODEC_SERVER_PORT (it serves only POST /decode and /encode)
 *   worker  GET /healthz on WORKER_METRICS_PORT (unless 0: no listener), and Temporal's gRPC health
 *           check with the worker's connection settings: one that cannot reach Temporal runs nothing
 *
 * A role without a listener is checked by what it works from only: a stuck event loop goes unseen
 * there, which is why compose and deploy/k8s keep the metrics ports on.
 */
import { fileURLToPath } from 'node:url';
import { Connection } from '@temporalio/client';
import pg from 'pg';
import { loadIngestConfig, WORKER_METRICS_PORT } from './app/config.js';
import { DEFAULT_CODEC_SERVER_PORT } from './codec/settings.js';
import { loadConfig } from './config/index.js';
import { readMetricsPort } from './metrics/serve.js';

const TIMEOUT_MS = 5_000;
type Env = Record<string, string | undefined>;

/** A listener on all interfaces is reached on loopback from inside its container. */
function local(host: string | undefined): string {
  const h = host?.trim();
  return !h || h === '0.0.0.0' || h === '::' ? '127.0.0.1' : h.includes(':') ? `[${h}]` : h;
}

async function answers(url: string, needOk: boolean): Promise<void> {
  const res = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) }).catch((error: unknown) => {
    // fetch's own message ("fetch failed") names neither the address nor the cause.
    const cause =
      error instanceof Error && error.cause instanceof Error ? error.cause.message : String(error);
    throw new Error(`${url} does not answer: ${cause}`);
  });
  await res.body?.cancel();
  if (needOk && !res.ok) throw new Error(`${url} answered ${res.status}`);
}

async function temporalServing(env: Env): Promise<void> {
  const { temporal } = loadConfig(env, { requireEncryptionKey: false });
  const connection = await Connection.connect({ ...temporal.connectionOptions, connectTimeout: TIMEOUT_MS });
  try {
    const { status } = await connection.healthService.check({});
    if (status !== 1)
      throw new Error(`Temporal at ${temporal.address} is not serving (health status ${status})`);
  } finally {
    await connection.close();
  }
}

async function ingestHealthy(env: Env): Promise<void> {
  const config = loadIngestConfig(env);
  const port = config.ingest.metricsPort;
  if (port > 0) return answers(`http://${local(config.metricsHost)}:${port}/healthz`, true);
  const client = new pg.Client({
    connectionString: config.databaseUrl,
    connectionTimeoutMillis: TIMEOUT_MS,
    application_name: 'solar-iot-healthcheck',
  });
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (error) {
    throw new Error(
      `the database does not answer (METRICS_PORT=0: no /healthz to ask): ${error instanceof Error ? error.message : String(error)}`,
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function workerHealthy(env: Env): Promise<void> {
  const port = readMetricsPort('WORKER_METRICS_PORT', env.WORKER_METRICS_PORT, WORKER_METRICS_PORT);
  if (port > 0) await answers(`http://${local(env.WORKER_METRICS_HOST)}:${port}/healthz`, true);
  await temporalServing(env);
}

export const HEALTH_CHECKS: Record<string, (env: Env) => Promise<void>> = {
  api: (env) =>
    answers(
      `http://${local(env.API_HOST)}:${loadConfig(env, { requireEncryptionKey: false }).port}/healthz`,
      true,
    ),
  ingest: ingestHealthy,
  codec: (env) =>
    answers(
      `http://${local(env.CODEC_SERVER_HOST)}:${env.CODEC_SERVER_PORT || DEFAULT_CODEC_SERVER_PORT}/`,
      false,
    ),
  worker: workerHealthy,
};

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const role = process.argv[2] ?? '';
  const check = HEALTH_CHECKS[role];
  if (!check) {
    console.error(`usage: healthcheck.js ${Object.keys(HEALTH_CHECKS).join('|')}`);
    process.exit(2);
  }
  try {
    await check(process.env);
    process.exit(0);
  } catch (error) {
    console.error(`${role} unhealthy: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
}
