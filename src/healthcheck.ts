/**
 * The container image's HEALTHCHECK: `node dist/healthcheck.js <role>` exits 0 when the role's
 * process answers, 1 with one line saying what did not. It runs beside the role in its container,
 * with the same variables, so it probes what that role listens on:
 *
 *   api     GET /healthz on PORT
 *   ingest  GET /healthz on METRICS_PORT (the metrics endpoint)
 *   codec   any HTTP answer on CODEC_SERVER_PORT (it serves only POST /decode and /encode)
 *   worker  Temporal's gRPC health check, with the worker's connection settings: the worker has no
 *           listener of its own, and one that cannot reach Temporal runs nothing
 */
import { fileURLToPath } from 'node:url';
import { Connection } from '@temporalio/client';
import { DEFAULT_CODEC_SERVER_PORT } from './codec/settings.js';
import { loadConfig } from './config/index.js';
import { loadIngestSettings } from './ingest/settings.js';

const TIMEOUT_MS = 5_000;
type Env = Record<string, string | undefined>;

/** A listener on all interfaces is reached on loopback from inside its container. */
function local(host: string | undefined): string {
  const h = host?.trim();
  return !h || h === '0.0.0.0' || h === '::' ? '127.0.0.1' : h.includes(':') ? `[${h}]` : h;
}

async function answers(url: string, needOk: boolean): Promise<void> {
  const res = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
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

export const HEALTH_CHECKS: Record<string, (env: Env) => Promise<void>> = {
  api: (env) =>
    answers(
      `http://${local(env.API_HOST)}:${loadConfig(env, { requireEncryptionKey: false }).port}/healthz`,
      true,
    ),
  ingest: (env) =>
    answers(`http://${local(env.METRICS_HOST)}:${loadIngestSettings(env).metricsPort}/healthz`, true),
  codec: (env) =>
    answers(
      `http://${local(env.CODEC_SERVER_HOST)}:${env.CODEC_SERVER_PORT || DEFAULT_CODEC_SERVER_PORT}/`,
      false,
    ),
  worker: temporalServing,
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
