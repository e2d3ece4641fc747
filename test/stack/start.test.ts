/**
 * `npm start` (tools/stack/start.ts) as a real process tree, against the test run's Temporal and
 * PostgreSQL (TEMPORAL_ADDRESS, DATABASE_URL) and its own moto: what each child process gets in
 * its environment (/proc/<pid>/environ), what no command line shows (/proc/<pid>/cmdline), where
 * the API token is, that a user's AWS profile or keys never take the stack to real AWS, and that
 * the README's commands run in a second terminal against it with nothing set by hand.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../tools/stack/processes.js';
import { json, ran } from '../support/child.js';
import { secondTerminal } from './second-terminal.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const CANARY = 'UNRELATED_SHELL_SECRET';
const USER_AWS = {
  AWS_PROFILE: 'someones-production-account',
  AWS_ACCESS_KEY_ID: 'AKIAREALLOOKINGKEY01',
  AWS_SECRET_ACCESS_KEY: 'real-looking-secret-access-key-0123456789',
  AWS_SESSION_TOKEN: 'real-looking-session-token',
  AWS_SQS_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/210987654321/prod-telemetry',
  AWS_SQS_DEAD_LETTER_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/210987654321/prod-telemetry-dlq',
};

interface Proc {
  pid: number;
  cmdline: string[];
  environ: Map<string, string>;
}

function ppidOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/** Every live descendant of `root`, with its command line and environment. */
function descendants(root: number): Proc[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const ppid = ppidOf(Number(name));
    if (ppid !== undefined) children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
  }
  const out: Proc[] = [];
  const queue = [...(children.get(root) ?? [])];
  while (queue.length > 0) {
    const pid = queue.shift() as number;
    queue.push(...(children.get(pid) ?? []));
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
      const environ = new Map(
        readFileSync(`/proc/${pid}/environ`, 'utf8')
          .split('\0')
          .filter(Boolean)
          .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)] as [string, string]),
      );
      out.push({ pid, cmdline, environ });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

let stack: ChildProcess;
let output = '';
let dataDir: string;
let procs: Proc[];
const app = (entry: string): Proc => {
  const found = procs.find((p) => p.cmdline.includes(entry));
  if (!found) throw new Error(`no process runs ${entry}; output:\n${output}`);
  return found;
};

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'solar-iot-start-'));
  const ports = {
    MOTO_PORT: await freePort(),
    CODEC_SERVER_PORT: await freePort(),
    PORT: await freePort(),
    METRICS_PORT: await freePort(),
    WORKER_METRICS_PORT: await freePort(),
    WORKER_METRICS_TEMPORAL_PORT: await freePort(),
    API_METRICS_PORT: await freePort(),
    TEMPORAL_UI_PORT: await freePort(),
  };
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...USER_AWS,
    [CANARY]: 'must-not-reach-any-child',
    SOLAR_IOT_DATA_DIR: dataDir,
    TEMPORAL_TASK_QUEUE: `start-test-${process.pid}`,
    ROTATION_SCHEDULE: 'off',
    ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])),
  };
  // Temporal and PostgreSQL of the test run; the AWS side is what `npm start` picks itself.
  for (const k of [
    'AWS_ENDPOINT_URL',
    'ENCRYPTION_KEY',
    'API_TOKEN',
    'MOTO_IOT_CA_FILE',
    'SOLAR_IOT_REAL_AWS',
  ])
    delete env[k];
  stack = spawn(process.execPath, ['--import', 'tsx', 'tools/stack/start.ts'], {
    cwd: ROOT,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  stack.stdout?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  stack.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  await new Promise<void>((resolveUp, reject) => {
    const poll = setInterval(() => {
      if (output.includes('[stack] up in')) {
        clearInterval(poll);
        resolveUp();
      }
    }, 100);
    stack.once('exit', (code) => {
      clearInterval(poll);
      reject(new Error(`npm start exited (code ${code}) before it was up:\n${output}`));
    });
  });
  procs = descendants(stack.pid as number);
});

afterAll(async () => {
  if (stack?.pid && stack.exitCode === null) {
    const exited = new Promise((r) => stack.once('exit', r));
    process.kill(stack.pid, 'SIGTERM');
    const timer = setTimeout(() => {
      try {
        process.kill(-(stack.pid as number), 'SIGKILL');
      } catch {}
    }, 90_000);
    await exited;
    clearTimeout(timer);
  }
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('npm start: API token (issue 13, item 2)', () => {
  it('generates <data>/api.token (0600), gives it to the API through its environment and says where it is', () => {
    const file = join(dataDir, 'api.token');
    expect(existsSync(file)).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const token = readFileSync(file, 'utf8').trim();
    expect(token.length).toBeGreaterThanOrEqual(32);
    expect(app('src/api/main.ts').environ.get('API_TOKEN')).toBe(token);
    expect(output).toContain(file);
  });
});

describe('npm start: least privilege per process (issue 13, item 7)', () => {
  it('gives ENCRYPTION_KEY to the worker only', () => {
    expect(app('src/worker.ts').environ.get('ENCRYPTION_KEY')?.length).toBeGreaterThanOrEqual(32);
    for (const entry of ['src/api/main.ts', 'src/ingest/main.ts', 'src/codec/main.ts']) {
      expect(app(entry).environ.has('ENCRYPTION_KEY'), entry).toBe(false);
      expect(app(entry).environ.has('ENCRYPTION_KEYS_PREVIOUS'), entry).toBe(false);
    }
  });

  it('gives each process only what it needs', () => {
    const codec = app('src/codec/main.ts').environ;
    expect(codec.get('TEMPORAL_CODEC_KEYS')).toBeTruthy();
    const awsOrDb = (k: string) => k.startsWith('AWS_') || k === 'DATABASE_URL';
    expect([...codec.keys()].filter(awsOrDb)).toEqual([]);
    expect(codec.has('API_TOKEN')).toBe(false);

    const api = app('src/api/main.ts').environ;
    expect(api.get('TEMPORAL_CODEC_KEYS')).toBe(codec.get('TEMPORAL_CODEC_KEYS'));
    expect(api.get('DATABASE_URL')).toBeTruthy();
    expect(api.has('CODEC_SERVER_TOKEN')).toBe(false);

    const ingest = app('src/ingest/main.ts').environ;
    expect(ingest.get('DATABASE_URL')).toBeTruthy();
    expect(ingest.get('AWS_SQS_QUEUE_URL')).toBeTruthy();
    for (const k of ['TEMPORAL_CODEC_KEYS', 'API_TOKEN', 'CODEC_SERVER_TOKEN', 'CODEC_SERVER_TOKEN_FILE'])
      expect(ingest.has(k), k).toBe(false);

    // Every process the stack starts, down to the servers (the esbuild service of start.ts' own
    // tsx loader is part of the parent, with the parent's environment).
    const started = procs.filter(
      (p) => !(p.cmdline[0] ?? '').includes('esbuild') || ppidOf(p.pid) !== stack.pid,
    );
    expect(started.length).toBeGreaterThanOrEqual(5);
    for (const p of started) expect(p.environ.has(CANARY), p.cmdline.join(' ')).toBe(false);
    expect(app('src/worker.ts').environ.get('TEMPORAL_TASK_QUEUE')).toBe(`start-test-${process.pid}`);
  });

  it('puts no token or key on any command line of the stack', () => {
    const secrets = [
      readFileSync(join(dataDir, 'encryption.key'), 'utf8').trim(),
      readFileSync(join(dataDir, 'api.token'), 'utf8').trim(),
      readFileSync(join(dataDir, 'codec-server.token'), 'utf8').trim(),
      ...(app('src/codec/main.ts').environ.get('TEMPORAL_CODEC_KEYS') ?? '')
        .split(',')
        .map((e) => e.slice(e.indexOf(':') + 1)),
    ].filter((s) => s.length >= 16);
    expect(secrets.length).toBeGreaterThanOrEqual(4);
    for (const p of procs) {
      const line = p.cmdline.join(' ');
      for (const secret of secrets) expect(line.includes(secret), `pid ${p.pid}: ${line}`).toBe(false);
    }
  });
});

describe('npm start: the processes run with what they were given', () => {
  it('serves the API and the metrics of worker, API and ingestion, and no process exits', async () => {
    const api = app('src/api/main.ts').environ;
    const ingest = app('src/ingest/main.ts').environ;
    const worker = app('src/worker.ts').environ;
    const answers = async (url: string, headers: Record<string, string> = {}) => {
      for (;;) {
        if (/exited \(code/.test(output)) throw new Error(`a process exited:\n${output}`);
        const res = await fetch(url, { headers }).catch(() => undefined);
        if (res?.ok) return res;
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    await answers(`http://127.0.0.1:${api.get('PORT')}/healthz`);
    await answers(`http://127.0.0.1:${ingest.get('METRICS_PORT')}/metrics`);
    await answers(`http://127.0.0.1:${api.get('API_METRICS_PORT')}/metrics`);
    await answers(`http://127.0.0.1:${worker.get('WORKER_METRICS_PORT')}/metrics`);
    await answers(`http://127.0.0.1:${worker.get('WORKER_METRICS_TEMPORAL_PORT')}/metrics`);
    expect(output).not.toMatch(/exited \(code/);
  });
});

describe("npm start: the telemetry rules' dead-letter queue (issue 16, item 4)", () => {
  it('creates it in moto beside the telemetry queue, names it to every process, and /readyz reads it', async () => {
    const ingest = app('src/ingest/main.ts').environ;
    const deadLetters = `${ingest.get('AWS_SQS_QUEUE_URL')}-dlq`;
    for (const entry of ['src/worker.ts', 'src/api/main.ts', 'src/ingest/main.ts'])
      expect(app(entry).environ.get('AWS_SQS_DEAD_LETTER_QUEUE_URL'), entry).toBe(deadLetters);
    const api = app('src/api/main.ts').environ;
    for (;;) {
      if (/exited \(code/.test(output)) throw new Error(`a process exited:\n${output}`);
      const res = await fetch(`http://127.0.0.1:${api.get('PORT')}/readyz`, {
        headers: { authorization: `Bearer ${api.get('API_TOKEN')}` },
      }).catch(() => undefined);
      if (res) {
        const { checks } = (await res.json()) as { checks: Record<string, { ok: boolean; detail: string }> };
        expect(checks.deadLetters?.detail).toBe(`0 failed rule deliveries waiting in ${deadLetters}`);
        break;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  });
});

describe('npm start: never real AWS without asking (issue 13, item 8)', () => {
  it('runs the emulator with `test` credentials although the user has a profile and keys', () => {
    expect(output).not.toMatch(/real AWS \(/);
    for (const entry of ['src/worker.ts', 'src/api/main.ts', 'src/ingest/main.ts']) {
      const env = app(entry).environ;
      expect(env.get('AWS_ENDPOINT_URL'), entry).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(env.get('AWS_ACCESS_KEY_ID'), entry).toBe('test');
      expect(env.get('AWS_SECRET_ACCESS_KEY'), entry).toBe('test');
      expect(env.has('AWS_PROFILE'), entry).toBe(false);
      expect(env.has('AWS_SESSION_TOKEN'), entry).toBe(false);
      // The queue of the user's account is not in this moto: the stack's own queue is.
      if (env.has('AWS_SQS_QUEUE_URL'))
        expect(env.get('AWS_SQS_QUEUE_URL'), entry).toMatch(new RegExp(`^${env.get('AWS_ENDPOINT_URL')}/`));
    }
  });
});

describe('npm start: the commands of a second terminal (issue 17, item 1)', () => {
  let plantId = '';
  const terminal = () => secondTerminal({ ...USER_AWS, SOLAR_IOT_DATA_DIR: dataDir });
  // An operator's terminal: neither the database nor Temporal is reachable by variable or state.
  const operator = () => ({
    ...terminal(),
    DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none',
    TEMPORAL_ADDRESS: '127.0.0.1:1',
  });

  it('writes <data>/stack.json (0600) naming the files of its secrets, never their values', () => {
    const file = join(dataDir, 'stack.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const text = readFileSync(file, 'utf8');
    for (const secret of ['encryption.key', 'api.token', 'codec.keys'].map((f) =>
      readFileSync(join(dataDir, f), 'utf8').trim(),
    ))
      expect(text).not.toContain(secret);
    const state = JSON.parse(text);
    expect(state.pid).toBe(stack.pid);
    expect(state.api.tokenFile).toBe(join(dataDir, 'api.token'));
    expect(output).toContain('stack.json');
    // npm start set its Temporal up as `solar-iot setup temporal` does on a cluster.
    expect(output).toMatch(
      /setup\s+solar-iot setup temporal\s+search attributes, quota queue partitions, rotation schedule: ok/,
    );
  });

  it('names the files of a data folder outside the checkout by their absolute paths', () => {
    // SOLAR_IOT_DATA_DIR under /tmp: `../../../tmp/...` relative to the checkout is no path to copy.
    for (const f of ['encryption.key', 'codec.keys', 'api.token', 'stack.json'])
      expect(output).toContain(join(dataDir, f));
    expect(output).not.toMatch(/\.\.\//);
  });

  it('creates, provisions and lists a plant with `npm run cli`, through the API only (issue 17, item 3)', async () => {
    const created = await ran(
      ['npm', 'run', '--silent', 'cli', '--', '--json', 'plants', 'create', 'Second terminal', '--wait'],
      { env: operator() },
    );
    expect(created.code, created.stderr).toBe(0);
    const { plant } = json<{ plant: { id: string; iotStatus: string } }>(created);
    expect(plant.iotStatus).toBe('active');
    plantId = plant.id;
    const listed = await ran(['npm', 'run', '--silent', 'cli', '--', '--json', 'plants', 'list', '--all'], {
      env: operator(),
    });
    expect(listed.code, listed.stderr).toBe(0);
    expect(json<{ items: { id: string }[] }>(listed).items.map((p) => p.id)).toContain(plantId);
  });

  it('exports credentials, reconciles, rotates and simulates with the README commands', async () => {
    expect(plantId).not.toBe('');
    const bundle = join(dataDir, 'bundle');
    const [exported, reconciled, rotated, simulated] = await Promise.all([
      ran(
        [
          'npm',
          'run',
          '--silent',
          'cli',
          '--',
          'export-credentials',
          plantId,
          bundle,
          '--emulator-certificate',
        ],
        { env: terminal() },
      ),
      ran(['npm', 'run', '--silent', 'cli', '--', '--json', 'reconcile'], { env: terminal() }),
      ran(['npm', 'run', '--silent', 'cli', '--', 'rotate', plantId], { env: terminal() }),
      ran(
        ['npm', 'run', 'simulate', '--', '--plants', '1', '--devices', '1', '--rate', '20', '--count', '5'],
        { env: terminal() },
      ),
    ]);
    expect(exported.code, exported.stderr).toBe(0);
    expect(readdirSync(bundle).sort()).toEqual([
      'AmazonRootCA1.pem',
      'certificate.pem.crt',
      'device.json',
      'private.pem.key',
    ]);
    // 0 no drift, 1 drift (the test run's database holds other files' plants): it ran.
    expect([0, 1], reconciled.stderr).toContain(reconciled.code);
    expect(
      json<{ report: { scanned: { plants: number } } }>(reconciled).report.scanned.plants,
    ).toBeGreaterThan(0);
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(rotated.stdout).toContain(`rotate-certificate-${plantId}`);
    expect(simulated.code, simulated.stderr).toBe(0);
  });

  it('simulates telemetry for a plant of the API, which `telemetry <id>` then reads back (README)', async () => {
    expect(plantId).not.toBe('');
    const simulated = await ran(
      ['npm', 'run', 'simulate', '--', '--plant', plantId, '--devices', '2', '--rate', '20', '--count', '10'],
      { env: terminal() },
    );
    expect(simulated.code, simulated.stderr).toBe(0);
    // The stack's consumer stores them; poll until it has (no timing asserted).
    let devices: { deviceId: string }[] = [];
    for (let i = 0; i < 60 && devices.length < 2; i++) {
      const latest = await ran(
        ['npm', 'run', '--silent', 'cli', '--', '--json', 'telemetry', plantId, '--latest'],
        { env: operator() },
      );
      expect(latest.code, latest.stderr).toBe(0);
      devices = json<{ devices: { deviceId: string }[] }>(latest).devices;
      if (devices.length < 2) await new Promise((r) => setTimeout(r, 500));
    }
    expect(devices.map((d) => d.deviceId).sort()).toEqual(['inverter-01', 'inverter-02']);
  });
});
