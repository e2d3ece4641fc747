/**
 * docker-compose.yml is secure by default (issue 13, item 3), read as compose reads it (YAML with
 * merge keys): every published port on loopback unless SOLAR_IOT_BIND says otherwise, every secret
 * required (`${VAR:?message}`) instead of a fixed value, ENCRYPTION_KEY in the worker only, the
 * codec server running and the Web UI pointed at it, the patched moto, the ingest metrics
 * published. No Docker engine is needed: the file is checked, not run.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const ROOT = resolve(import.meta.dirname, '..', '..');
const TEXT = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8');

interface Service {
  image?: string;
  build?: unknown;
  command?: string[] | string;
  entrypoint?: string[] | string;
  environment?: Record<string, string | number | boolean | null>;
  ports?: (string | { published?: string | number; host_ip?: string })[];
  volumes?: string[];
  depends_on?: Record<string, unknown>;
}
const compose = parse(TEXT, { merge: true }) as { services: Record<string, Service> };
const services = compose.services;

const BIND = '${SOLAR_IOT_BIND:-127.0.0.1}';
const words = (v: string[] | string | undefined): string[] =>
  v === undefined ? [] : Array.isArray(v) ? v.map(String) : v.split(/\s+/);
const env = (name: string): Record<string, string> =>
  Object.fromEntries(Object.entries(services[name]?.environment ?? {}).map(([k, v]) => [k, String(v)]));
const running = (entry: string): string[] =>
  Object.entries(services)
    .filter(([, s]) => words(s.command).includes(entry))
    .map(([name]) => name);
/** `${NAME:?message}`: compose refuses to start without it, and says why. */
const required = (value: string | undefined, name: string) =>
  expect(value, name).toMatch(new RegExp(`^\\$\\{${name}:\\?[^}]{10,}\\}$`));

describe('docker-compose.yml', () => {
  it("creates the telemetry rules' dead-letter queue beside the telemetry queue and names it to the apps", () => {
    const setup = words(services['moto-setup']?.command).join(' ');
    expect(setup).toContain('QueueName="solar-plant-data"');
    expect(setup).toContain('QueueName="solar-plant-data-dlq"');
    // The worker runs the image's CMD (src/worker.ts).
    const others = [...running('dist/api/main.js'), ...running('dist/ingest/main.js')];
    expect(others).toHaveLength(2);
    for (const name of ['worker', ...others]) {
      expect(env(name).AWS_SQS_DEAD_LETTER_QUEUE_URL, name).toBe(
        'http://moto:5000/123456789012/solar-plant-data-dlq',
      );
    }
  });

  it('publishes every port on 127.0.0.1 unless SOLAR_IOT_BIND opens it', () => {
    const published = Object.entries(services).flatMap(([name, s]) =>
      (s.ports ?? []).map((p) => ({ name, port: typeof p === 'string' ? p : JSON.stringify(p) })),
    );
    expect(published.length).toBeGreaterThanOrEqual(6);
    for (const { name, port } of published)
      expect(port, name).toMatch(/^\$\{SOLAR_IOT_BIND:-127\.0\.0\.1\}:\d+:\d+$/);
  });

  it('requires API_TOKEN for the API, which listens in its container behind it', () => {
    const [api] = running('dist/api/main.js');
    expect(api).toBeDefined();
    required(env(api as string).API_TOKEN, 'API_TOKEN');
    // 9467: its metrics (next tests).
    expect(services[api as string]?.ports).toEqual([`${BIND}:3000:3000`, `${BIND}:9467:9467`]);
  });

  it('passes API_ALLOWED_HOSTS to the API: published beyond loopback, clients call it by another name', () => {
    const [api] = running('dist/api/main.js');
    // Without it the API answers 403 forbidden_host to every name but localhost/127.0.0.1/[::1].
    expect(env(api as string).API_ALLOWED_HOSTS).toBe('${API_ALLOWED_HOSTS:-}');
  });

  it('has no fixed PostgreSQL password: POSTGRES_PASSWORD is required and the URLs use it', () => {
    for (const name of Object.keys(services)) {
      const e = env(name);
      // Temporal's database has a password of its own (next test).
      const variable = name.startsWith('temporal') ? 'TEMPORAL_POSTGRES_PASSWORD' : 'POSTGRES_PASSWORD';
      for (const k of ['POSTGRES_PASSWORD', 'POSTGRES_PWD', 'SQL_PASSWORD']) {
        if (k in e) required(e[k], variable);
      }
      if (e.DATABASE_URL) expect(e.DATABASE_URL, name).toContain(':${POSTGRES_PASSWORD:?');
    }
    expect(env('postgres').POSTGRES_PASSWORD).toBeDefined();
  });

  it("gives Temporal's PostgreSQL another password than the app's: DATABASE_URL never opens Temporal's state", () => {
    // The worker, API and ingest hold DATABASE_URL and share a network with temporal-postgresql:
    // with one password, any of them could rewrite Temporal's histories and task queues.
    const temporalDb = ['temporal-postgresql', 'temporal-schema', 'temporal'].map((n) => env(n));
    required(temporalDb[0]?.POSTGRES_PASSWORD, 'TEMPORAL_POSTGRES_PASSWORD');
    required(temporalDb[1]?.SQL_PASSWORD, 'TEMPORAL_POSTGRES_PASSWORD');
    required(temporalDb[2]?.POSTGRES_PWD, 'TEMPORAL_POSTGRES_PASSWORD');
    for (const [name, s] of Object.entries(services)) {
      if (name.startsWith('temporal')) continue;
      expect(JSON.stringify(s), name).not.toContain('TEMPORAL_POSTGRES_PASSWORD');
    }
    expect(TEXT.split('\nname:')[0]).toContain('TEMPORAL_POSTGRES_PASSWORD=');
  });

  it('says that docker inspect shows the secrets, the codec token in the Web UI settings included', () => {
    expect(TEXT.split('\nname:')[0]).toMatch(/docker inspect/);
  });

  it('gives ENCRYPTION_KEY to the worker only, and the payload keys to worker, API and codec server', () => {
    const withKey = Object.keys(services).filter((name) => 'ENCRYPTION_KEY' in env(name));
    expect(withKey).toEqual(['worker']);
    required(env('worker').ENCRYPTION_KEY, 'ENCRYPTION_KEY');
    const [api] = running('dist/api/main.js');
    const [codec] = running('dist/codec/main.js');
    for (const name of ['worker', api as string, codec as string])
      required(env(name).TEMPORAL_CODEC_KEYS, 'TEMPORAL_CODEC_KEYS');
    const [ingest] = running('dist/ingest/main.js');
    for (const k of ['TEMPORAL_CODEC_KEYS', 'API_TOKEN', 'CODEC_SERVER_TOKEN'])
      expect(env(ingest as string)[k], k).toBeUndefined();
  });

  it('runs `solar-iot setup temporal` (search attributes, partitions, rotation Schedule) before the worker', () => {
    expect(words(services['solar-iot-setup']?.command)).toEqual([
      'node',
      'bin/solar-iot.js',
      'setup',
      'temporal',
    ]);
    required(env('solar-iot-setup').TEMPORAL_CODEC_KEYS, 'TEMPORAL_CODEC_KEYS');
    expect(Object.keys(services.worker?.depends_on ?? {})).toContain('solar-iot-setup');
  });

  it('runs the codec server and points the Temporal Web UI at it, as npm start does', () => {
    const [codec] = running('dist/codec/main.js');
    expect(codec).toBeDefined();
    const c = env(codec as string);
    required(c.CODEC_SERVER_TOKEN, 'CODEC_SERVER_TOKEN');
    expect(c.CODEC_SERVER_HOST).toBe('0.0.0.0');
    expect(services[codec as string]?.ports).toEqual([`${BIND}:8234:${c.CODEC_SERVER_PORT ?? 8234}`]);
    const ui = Object.entries(services).find(([, s]) => s.image?.startsWith('temporalio/ui:'));
    expect(ui).toBeDefined();
    const u = env(ui?.[0] as string);
    // The browser calls the codec endpoint: the published address, with the token in the path.
    expect(u.TEMPORAL_CODEC_ENDPOINT).toBe(
      'http://localhost:8234/t/${CODEC_SERVER_TOKEN:?set CODEC_SERVER_TOKEN (openssl rand -hex 32)}',
    );
    expect(ui?.[1].ports).toEqual([`${BIND}:8233:8080`]);
    expect(c.CODEC_CORS_ORIGINS).toBe('${CODEC_CORS_ORIGINS:-http://localhost:8233}');
  });

  it('runs the patched moto (the stock one loses SQS messages)', () => {
    const moto = services.moto as Service;
    expect(moto.image).toMatch(/^motoserver\/moto:/);
    const mount = (moto.volumes ?? []).find((v) => v.startsWith('./tools/stack/moto_server_patched.py:'));
    expect(mount).toBeDefined();
    expect(existsSync(join(ROOT, 'tools/stack/moto_server_patched.py'))).toBe(true);
    const inContainer = (mount as string).split(':')[1] as string;
    expect([...words(moto.entrypoint), ...words(moto.command)]).toContain(inContainer);
    expect(words(moto.entrypoint)[0]).toBe('python');
  });

  it('publishes the ingestion metrics (on loopback)', () => {
    const [ingest] = running('dist/ingest/main.js');
    const e = env(ingest as string);
    expect(e.METRICS_HOST).toBe('0.0.0.0');
    expect(services[ingest as string]?.ports).toEqual([`${BIND}:9464:${e.METRICS_PORT ?? 9464}`]);
  });

  it('publishes the metrics of worker (its own and the Temporal SDK) and API (on loopback)', () => {
    // The worker runs the image's own command (src/worker.ts).
    const w = env('worker');
    expect(w.WORKER_METRICS_HOST).toBe('0.0.0.0');
    expect(services.worker?.ports).toEqual([
      `${BIND}:9465:${w.WORKER_METRICS_PORT}`,
      `${BIND}:9466:${w.WORKER_METRICS_TEMPORAL_PORT}`,
    ]);
    const [api] = running('dist/api/main.js');
    const a = env(api as string);
    expect(a.API_METRICS_HOST).toBe('0.0.0.0');
    expect(services[api as string]?.ports).toEqual([
      `${BIND}:3000:${a.PORT}`,
      `${BIND}:9467:${a.API_METRICS_PORT}`,
    ]);
  });

  it('passes OTEL_EXPORTER_OTLP_ENDPOINT to the worker and the API, empty (traces off) unless set', () => {
    const [api] = running('dist/api/main.js');
    for (const name of ['worker', api as string]) {
      expect(env(name).OTEL_EXPORTER_OTLP_ENDPOINT, name).toBe('${OTEL_EXPORTER_OTLP_ENDPOINT:-}');
    }
  });

  it('lets the user set what its header tells them to set when the ports are opened', () => {
    const body = TEXT.split('\nname:')[1] as string;
    for (const name of ['SOLAR_IOT_BIND', 'CODEC_CORS_ORIGINS', 'TEMPORAL_CORS_ORIGINS']) {
      expect(TEXT.split('\nname:')[0], name).toContain(name);
      // A fixed value would make the header's advice silently do nothing.
      expect(body, name).toContain(`\${${name}:-`);
    }
  });

  it('has only interpolations compose can parse (no $ inside a ${VAR:?message})', () => {
    const body = TEXT.split('\n')
      .filter((l) => !l.trimStart().startsWith('#'))
      .join('\n');
    for (const m of body.matchAll(/\$\{[A-Z_]+:\?([^}]*)\}/g)) expect(m[1], m[0]).not.toContain('$');
  });

  it('says in its header how to create the required secrets', () => {
    for (const name of [
      'ENCRYPTION_KEY',
      'TEMPORAL_CODEC_KEYS',
      'API_TOKEN',
      'CODEC_SERVER_TOKEN',
      'POSTGRES_PASSWORD',
    ])
      expect(TEXT.split('\nname:')[0]).toContain(`${name}=`);
  });
});
