/**
 * The production image (issue 17, item 6), checked without a Docker engine: the Dockerfile is a
 * multi-stage build whose last stage holds the compiled code, the prebuilt workflow bundle and
 * production dependencies only, runs as a non-root user and has a HEALTHCHECK; docker-compose.yml
 * runs every role from that one image. Then the image is assembled here as its last stage's COPY
 * lines say (the build stage's output from test/support/built-package.ts; the production
 * dependencies stage stood in for by links to the packages package.json declares) and each role's
 * command, as the Dockerfile or compose writes it, is run in it on a read-only filesystem: the
 * worker, API, ingest and codec server against the test run's servers with their health checks,
 * migrations on a new database, the CLI's help, and each long-running role's configuration error.
 */
import { randomUUID } from 'node:crypto';
import { cp, mkdir, readFile } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse } from 'yaml';
import { freePort } from '../../tools/stack/processes.js';
import {
  buildStage,
  builtPackage,
  linkDependencies,
  productionDependencies,
  ROOT,
} from '../support/built-package.js';
import { ran, type Started, started } from '../support/child.js';
import { copies, last, readDockerfile, type Stage, words } from '../support/dockerfile.js';
import { dropDatabaseWhenClosed } from '../support/drop-database.js';
import { awsClientConfig } from '../support/moto.js';
import { serversEnv } from '../support/servers-env.js';

const stages = readDockerfile(join(ROOT, 'Dockerfile'));
const final = stages.at(-1) as Stage;
const runs = (stage: Stage, pattern: RegExp) =>
  stage.instructions.some((i) => i.op === 'RUN' && pattern.test(i.text));
const OMIT_DEV = /\bnpm ci\b.*--omit=dev/;

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  entrypoint?: string[];
  healthcheck?: { test?: string[]; disable?: boolean };
  network_mode?: string;
}
const compose = parse(await readFile(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
};
const ROLES = ['worker', 'api', 'ingest', 'codec', 'migrate', 'cli'] as const;
type Role = (typeof ROLES)[number];
const service = (role: Role) => compose.services[role] as Service;

/** What the container runs: the service's entrypoint and command, else the image's. */
function argv(role: Role): string[] {
  const s = service(role);
  const entrypoint =
    s.entrypoint ?? (last(final, 'ENTRYPOINT') ? words(last(final, 'ENTRYPOINT') as string) : []);
  const command = s.command ?? (s.entrypoint ? [] : words(last(final, 'CMD') ?? '[]'));
  return [...entrypoint, ...command];
}

/** The health check command of a role: the service's, else the image's HEALTHCHECK. */
function healthcheck(role: Role): string[] | undefined {
  const s = service(role);
  if (s.healthcheck?.disable) return undefined;
  if (s.healthcheck?.test) return s.healthcheck.test[0] === 'CMD' ? s.healthcheck.test.slice(1) : undefined;
  const text = last(final, 'HEALTHCHECK');
  return text ? words(text.slice(text.indexOf('CMD') + 3)) : undefined;
}

let image: string;

/** The image's WORKDIR as its last stage's COPY lines fill it. */
async function assembleImage(): Promise<string> {
  const pkg = await builtPackage();
  const dir = join(inject('workDir'), 'image');
  await mkdir(dir, { recursive: true });
  for (const { from, sources, dest } of copies(final)) {
    const stage = stages.find((s) => s.name === from);
    for (const source of sources) {
      const target = join(dir, dest.endsWith('/') ? basename(source) : dest);
      if (!from) {
        await cp(join(ROOT, source), target, { recursive: true });
      } else if (stage === buildStage(stages)) {
        await cp(join(pkg.dir, relative(last(stage, 'WORKDIR') ?? '/', source)), target, { recursive: true });
      } else if (stage && runs(stage, OMIT_DEV) && basename(source) === 'node_modules') {
        await linkDependencies(target, await productionDependencies(join(ROOT, 'package.json')));
      } else {
        throw new Error(`COPY --from=${from} ${source}: nothing here stands in for it`);
      }
    }
  }
  return dir;
}

/** A role's environment: the test run's servers and what compose gives that role. */
const roleEnv = (extra: Record<string, string> = {}) =>
  serversEnv({ NODE_ENV: 'production', LOG_LEVEL: 'info', ...extra });
const CODEC_KEYS = `k1:${'ab'.repeat(32)}`;
/**
 * Every role runs on a read-only filesystem, as deploy/k8s runs it (readOnlyRootFilesystem, no
 * writable volume): in a mount namespace of its own where every mount is remounted read-only.
 */
const READ_ONLY = [
  'unshare',
  '--map-root-user',
  '--mount',
  'sh',
  '-c',
  'mount --make-rprivate / && findmnt -rno TARGET | grep -Ev "^/(proc|sys|dev)(/|$)" | while read -r m; do mount -o remount,bind,ro "$m" || exit 1; done && exec "$@"',
  'sh',
];
const node = (args: string[]) => [
  ...READ_ONLY,
  ...(args[0] === 'node' ? [process.execPath, ...args.slice(1)] : args),
];
const inImage = (args: string[], env: Record<string, string | undefined>) =>
  ran(node(args), { cwd: image, env }, 60_000);
const startInImage = (args: string[], env: Record<string, string | undefined>) =>
  started(node(args), { cwd: image, env });

const servers: Started[] = [];
beforeAll(async () => {
  image = await assembleImage();
}, 600_000);
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
});

describe('Dockerfile', () => {
  it('builds in stages: compiled in one, production dependencies in another, only their output in the image', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(buildStage(stages)).not.toBe(final);
    expect(final.base).toMatch(/^node:24[-.\w]*$/);
    const finalCopies = copies(final);
    expect(
      finalCopies.some((c) => c.from === buildStage(stages).name && c.sources.some((s) => /\/dist$/.test(s))),
    ).toBe(true);
    const deps = finalCopies.find((c) => c.sources.some((s) => basename(s) === 'node_modules'));
    const depsStage = stages.find((s) => s.name === deps?.from);
    expect(
      depsStage && runs(depsStage, OMIT_DEV),
      'node_modules from a stage running npm ci --omit=dev',
    ).toBe(true);
    // No TypeScript runtime and no dev install in what runs.
    expect(final.instructions.filter((i) => /\btsx\b/.test(i.text))).toEqual([]);
    expect(final.instructions.filter((i) => i.op === 'RUN' && /\bnpm (ci|install)\b/.test(i.text))).toEqual(
      [],
    );
    expect(last(final, 'ENV')).toMatch(/NODE_ENV=production/);
  });

  it('runs as a non-root user and has a HEALTHCHECK', () => {
    // By number (uid:gid): Kubernetes' runAsNonRoot cannot check a name, and refuses the pod.
    expect(last(final, 'USER')).toMatch(/^[1-9]\d*:[1-9]\d*$/);
    expect(last(final, 'HEALTHCHECK')).toMatch(/\bCMD\b/);
  });

  it('holds the prebuilt workflow bundle, the migrations and bin/', async () => {
    const bundle = await readFile(join(image, 'dist', 'workflow-bundle.json'), 'utf8');
    expect(JSON.parse(bundle)).toHaveProperty('sourceHash');
    await expect(readFile(join(image, 'drizzle', 'meta', '_journal.json'), 'utf8')).resolves.toContain(
      'entries',
    );
    await expect(readFile(join(image, 'bin', 'solar-iot.js'), 'utf8')).resolves.toContain('dist/cli/main.js');
    await expect(readFile(join(image, 'src', 'client.ts'))).rejects.toThrow(/ENOENT/);
  });
});

describe('docker-compose.yml', () => {
  it('runs every role from the one image, each command a file the build produces', async () => {
    const images = new Set(ROLES.map((role) => service(role)?.image));
    expect(images.size, JSON.stringify([...images])).toBe(1);
    for (const role of ROLES) {
      const args = argv(role);
      expect(args[0], role).toBe('node');
      await expect(readFile(join(image, args[1] as string)), `${role}: ${args[1]}`).resolves.toBeDefined();
      const check = healthcheck(role);
      if (check)
        await expect(readFile(join(image, check[1] as string)), `${role} health`).resolves.toBeDefined();
    }
    // Whatever else is built from this repository uses the same image.
    for (const [name, s] of Object.entries(compose.services))
      if (s.build !== undefined) expect(s.image, name).toBe(service('worker').image);
  });

  it('checks the health of every long-running role', () => {
    for (const role of ['worker', 'api', 'ingest', 'codec'] as const)
      expect(healthcheck(role), role).toBeDefined();
  });
});

describe('each role, started from the assembled image', () => {
  it('runs on a read-only filesystem', async () => {
    const write = ['node', '-e', "require('node:fs').writeFileSync('written-by-' + process.pid, 'x')"];
    const { code, output } = await inImage(write, roleEnv());
    expect(code).not.toBe(0);
    expect(output).toMatch(/EROFS/);
  });

  it('cli: answers --help', async () => {
    const { code, output } = await inImage([...argv('cli'), '--help'], roleEnv());
    expect(code, output).toBe(0);
    expect(output).toMatch(/Usage: solar-iot/);
  });

  it('migrate: applies the migrations to a new database, and names DATABASE_URL when it is missing', async () => {
    const missing = await inImage(argv('migrate'), roleEnv({ DATABASE_URL: '' }));
    expect(missing.code, missing.output).toBe(2);
    expect(missing.output).toMatch(/^DATABASE_URL: /m);

    const admin = new pg.Client({ connectionString: inject('stack').DATABASE_URL });
    await admin.connect();
    const name = `image_migrate_${randomUUID().slice(0, 8)}`;
    try {
      await admin.query(`CREATE DATABASE ${name}`);
      const url = new URL(inject('stack').DATABASE_URL);
      url.pathname = `/${name}`;
      const { code, output } = await inImage(argv('migrate'), roleEnv({ DATABASE_URL: url.toString() }));
      expect(code, output).toBe(0);
      const db = new pg.Client({ connectionString: url.toString() });
      await db.connect();
      const { rows } = await db.query<{ t: string | null }>("SELECT to_regclass('plants')::text AS t");
      await db.end();
      expect(rows[0]?.t).toBe('plants');
    } finally {
      await dropDatabaseWhenClosed(admin, name);
      await admin.end();
    }
  });

  it('worker: polls with the prebuilt workflow bundle; its health check follows its /healthz and Temporal', async () => {
    // Ports of its own: another worker of this machine (an `npm start`) may hold the defaults, and
    // the health check must find this one's /healthz.
    const env = roleEnv({
      ENCRYPTION_KEY: inject('stack').ENCRYPTION_KEY,
      TEMPORAL_CODEC_KEYS: CODEC_KEYS,
      WORKER_METRICS_PORT: String(await freePort()),
      WORKER_METRICS_TEMPORAL_PORT: String(await freePort()),
    });
    const worker = startInImage(argv('worker'), { ...env, TEMPORAL_TASK_QUEUE: `image-${randomUUID()}` });
    servers.push(worker);
    const [missing] = await Promise.all([
      inImage(argv('worker'), { ...env, ENCRYPTION_KEY: '' }),
      worker.waitFor(/"msg":"worker polling"/, 120_000),
    ]);
    expect(missing.code, missing.output).toBe(2);
    expect(missing.output).toMatch(/ENCRYPTION_KEY/);
    expect(worker.output()).toMatch(/"workflows":"prebuilt"/);
    expect(worker.output()).not.toMatch(/bundling workflows at start/);
    const check = healthcheck('worker') as string[];
    const closed = `127.0.0.1:${await freePort()}`;
    const [healthy, unreachable] = await Promise.all([
      inImage(check, env),
      inImage(check, { ...env, TEMPORAL_ADDRESS: closed }),
    ]);
    expect(healthy.code, healthy.output).toBe(0);
    expect(unreachable.code, unreachable.output).not.toBe(0);
    expect(await worker.stop(), worker.output()).toBe(0);
    const stopped = await inImage(check, env);
    expect(stopped.code, stopped.output).not.toBe(0);
    expect(stopped.output).toMatch(/healthz does not answer/);
  });

  it('api: serves, healthy by its health check, unhealthy once stopped; refuses to start without DATABASE_URL', async () => {
    const env = roleEnv({
      API_HOST: '0.0.0.0',
      PORT: String(await freePort()),
      API_METRICS_PORT: String(await freePort()),
      API_TOKEN: randomUUID(),
      TEMPORAL_CODEC_KEYS: CODEC_KEYS,
    });
    const api = startInImage(argv('api'), env);
    servers.push(api);
    const [missing] = await Promise.all([
      inImage(argv('api'), { ...env, DATABASE_URL: '' }),
      api.waitFor(/"msg":"API listening"/),
    ]);
    expect(missing.code, missing.output).toBe(2);
    expect(missing.output).toMatch(/DATABASE_URL/);
    const check = healthcheck('api') as string[];
    const healthy = await inImage(check, env);
    expect(healthy.code, healthy.output).toBe(0);
    await api.stop();
    const down = await inImage(check, env);
    expect(down.code, down.output).not.toBe(0);
  });

  it('codec server: healthy by its health check; refuses to start without its token', async () => {
    const env = roleEnv({
      TEMPORAL_CODEC_KEYS: CODEC_KEYS,
      CODEC_SERVER_TOKEN: randomUUID() + randomUUID(),
      CODEC_SERVER_HOST: '0.0.0.0',
      CODEC_SERVER_PORT: String(await freePort()),
    });
    const codec = startInImage(argv('codec'), env);
    servers.push(codec);
    const [missing] = await Promise.all([
      inImage(argv('codec'), { ...env, CODEC_SERVER_TOKEN: '' }),
      codec.waitFor(/"msg":"codec server listening/),
    ]);
    expect(missing.code, missing.output).toBe(2);
    expect(missing.output).toMatch(/CODEC_SERVER_TOKEN/);
    const healthy = await inImage(healthcheck('codec') as string[], env);
    expect(healthy.code, healthy.output).toBe(0);
    await codec.stop();
  });

  it("setup temporal (the Kubernetes setup Job): prepares the test run's Temporal", async () => {
    const command = compose.services['solar-iot-setup']?.command ?? [];
    expect(command.slice(0, 2)).toEqual(['node', 'bin/solar-iot.js']);
    const env = roleEnv({ TEMPORAL_CODEC_KEYS: CODEC_KEYS, TEMPORAL_TASK_QUEUE: `image-${randomUUID()}` });
    const { code, output } = await inImage(command, env);
    expect(code, output).toBe(0);
    expect(output).toMatch(/is ready/);
  });

  it('ingest: runs, healthy by its health check; names AWS_SQS_QUEUE_URL when it is missing', async () => {
    const sqs = new SQSClient(awsClientConfig());
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: `image-${randomUUID()}` }));
    sqs.destroy();
    const env = roleEnv({
      AWS_SQS_QUEUE_URL: QueueUrl ?? '',
      METRICS_HOST: '0.0.0.0',
      METRICS_PORT: String(await freePort()),
    });
    const ingest = startInImage(argv('ingest'), env);
    servers.push(ingest);
    const [missing] = await Promise.all([
      inImage(argv('ingest'), { ...env, AWS_SQS_QUEUE_URL: '' }),
      ingest.waitFor(/"msg":"metrics endpoint listening"/),
    ]);
    expect(missing.code, missing.output).not.toBe(0);
    expect(missing.output).toMatch(/^AWS_SQS_QUEUE_URL: /m);
    const healthy = await inImage(healthcheck('ingest') as string[], env);
    expect(healthy.code, healthy.output).toBe(0);
    await ingest.stop();
  });
});
