/**
 * The admin commands of `solar-iot` (issue 17, item 3): `setup temporal` on the test run's dev
 * server and on a fresh one nobody set up (default partitions, no search attributes), `--version`
 * and each admin command's `--help`. reconcile, reencrypt-keys and export-credentials run in
 * test/reconcile and test/secrets; all of them from a second terminal of `npm start` in
 * test/stack/start.test.ts.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection, ScheduleNotFoundError } from '@temporalio/client';
import { msToTs } from '@temporalio/common';
// Default import: @temporalio/proto is CommonJS (as src/setup/temporal.ts).
import proto from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/io.js';
import { ROTATION_SCHEDULE_ID } from '../../src/rotation/schedule.js';
import type { TemporalSetupReport } from '../../src/setup/temporal.js';
import { startTemporalDevServer, type TemporalDevServer } from '../../tools/stack/components.js';
import { freePort } from '../../tools/stack/processes.js';
import { ensureTools } from '../../tools/stack/tools.js';
import { runCli } from '../support/cli.js';
import { TEST_API_ENCRYPTION_KEY } from '../support/product-stack.js';
import { uniqueTaskQueue } from '../support/temporal.js';

const cli = (argv: string[], env: Record<string, string | undefined> = {}) =>
  runCli(argv, { ...process.env, ENCRYPTION_KEY: TEST_API_ENCRYPTION_KEY, LOG_LEVEL: 'silent', ...env });

const report = (ran: { stdout: string }) => JSON.parse(ran.stdout) as TemporalSetupReport;
const step = (r: TemporalSetupReport, what: string) => r.steps.find((s) => s.what.startsWith(what));

describe('solar-iot setup temporal', () => {
  it('on a set-up cluster: everything ok; the rotation schedule follows ROTATION_SCHEDULE', async () => {
    const taskQueue = uniqueTaskQueue('setup');
    const on = await cli(['--json', 'setup', 'temporal'], {
      TEMPORAL_TASK_QUEUE: taskQueue,
      ROTATION_SCHEDULE: 'on',
    });
    expect(on.code, on.stderr).toBe(EXIT.ok);
    expect(report(on).ok).toBe(true);
    expect(step(report(on), 'search attribute PlantId')?.detail).toBe('Keyword, registered');
    expect(step(report(on), 'quota task queue partitions')?.detail).toMatch(/^1 each/);
    expect(step(report(on), 'rotation schedule')?.detail).toMatch(/^(created|up to date): every/);

    const connection = await Connection.connect({ address: process.env.TEMPORAL_ADDRESS ?? '' });
    try {
      // Raw: its arguments are encrypted, which a client without the codec could not decode.
      const described = await connection.workflowService.describeSchedule({
        namespace: 'default',
        scheduleId: ROTATION_SCHEDULE_ID,
      });
      const action = described.schedule?.action?.startWorkflow;
      expect(action?.workflowType?.name).toBe('rotateExpiringCertificates');
      expect(action?.taskQueue?.name).toBe(taskQueue);

      const off = await cli(['setup', 'temporal'], {
        TEMPORAL_TASK_QUEUE: taskQueue,
        ROTATION_SCHEDULE: 'off',
      });
      expect(off.code, off.stderr).toBe(EXIT.ok);
      expect(off.stdout).toMatch(/removed \(ROTATION_SCHEDULE=off\)/);
      expect(off.stdout).toMatch(/is ready\./);
      await expect(
        new Client({ connection }).schedule.getHandle(ROTATION_SCHEDULE_ID).describe(),
      ).rejects.toThrow(ScheduleNotFoundError);
    } finally {
      await connection.close();
    }
  });

  describe('on a cluster nobody set up', () => {
    let server: TemporalDevServer;
    let workDir: string;
    beforeAll(async () => {
      const tools = await ensureTools({ temporalCli: true });
      workDir = await mkdtemp(join(tmpdir(), 'solar-iot-setup-'));
      server = await startTemporalDevServer({
        tool: tools.temporalCli as NonNullable<typeof tools.temporalCli>,
        port: await freePort(),
        logFile: join(workDir, 'temporal.log'),
        searchAttributes: false,
        // The server's default: four partitions per task queue.
        dynamicConfig: {
          'matching.numTaskqueueReadPartitions': 4,
          'matching.numTaskqueueWritePartitions': 4,
        },
      });
    });
    afterAll(async () => {
      await server?.stop();
      if (workDir) await rm(workDir, { recursive: true, force: true });
    });

    it('adds the search attributes once, and exits 1 naming the partitions to fix', async () => {
      const env = { TEMPORAL_ADDRESS: server.address, TEMPORAL_TASK_QUEUE: 'solar-iot' };
      const first = await cli(['--json', 'setup', 'temporal'], env);
      expect(first.code).toBe(EXIT.failure);
      expect(step(report(first), 'search attribute PlantId')).toMatchObject({
        ok: true,
        detail: 'Keyword, added',
      });
      expect(step(report(first), 'search attribute IotStatus')).toMatchObject({
        ok: true,
        detail: 'Keyword, added',
      });
      expect(step(report(first), 'quota task queue partitions')).toMatchObject({
        ok: false,
        detail: expect.stringMatching(/solar-iot@CreateThing: 4.*deploy\/temporal-dynamicconfig\.yaml/),
      });

      const again = await cli(['setup', 'temporal'], env);
      expect(again.code).toBe(EXIT.failure);
      expect(again.stdout).toMatch(/ok\s*│\s*search attribute PlantId\s*│\s*Keyword, registered/);
      expect(again.stdout).toMatch(/FAILED\s*│\s*quota task queue partitions/);
      expect(again.stdout).toMatch(/fix the FAILED steps and run again/);
    });

    it('names the type of a search attribute registered as another, and how to fix it', async () => {
      const namespace = 'wrong-types';
      const connection = await Connection.connect({ address: server.address });
      try {
        await connection.workflowService.registerNamespace({
          namespace,
          workflowExecutionRetentionPeriod: msToTs('1 day'),
        });
        const { INDEXED_VALUE_TYPE_TEXT } = proto.temporal.api.enums.v1.IndexedValueType;
        await connection.operatorService.addSearchAttributes({
          namespace,
          searchAttributes: { IotStatus: INDEXED_VALUE_TYPE_TEXT },
        });
      } finally {
        await connection.close();
      }
      const ran = await cli(['--json', 'setup', 'temporal'], {
        TEMPORAL_ADDRESS: server.address,
        TEMPORAL_NAMESPACE: namespace,
      });
      expect(ran.code).toBe(EXIT.failure);
      expect(step(report(ran), 'search attribute IotStatus')).toMatchObject({
        ok: false,
        detail: expect.stringMatching(
          /^registered as Text, not Keyword.*Fix: .*search-attribute remove --namespace wrong-types --name IotStatus/,
        ),
      });
    });
  });
});

describe('solar-iot --version and the admin commands’ --help', () => {
  it('prints the package version', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    for (const flag of ['--version', '-V']) {
      const ran = await cli([flag]);
      expect(ran.code).toBe(EXIT.ok);
      expect(ran.stdout.trim()).toBe(version);
    }
  });

  it('describes each admin command and its options, without opening anything', async () => {
    const expected: Record<string, string[]> = {
      reconcile: ['--remove'],
      rotate: ['<plantId>', '--grace-period', '--wait'],
      'export-credentials': ['<plantId>', '<directory>', '--endpoint', '--emulator-certificate'],
      'reencrypt-keys': ['--batch-size', '--dry-run'],
      'setup temporal': [],
    };
    // No database, Temporal or key: --help needs none.
    const env = { DATABASE_URL: undefined, TEMPORAL_ADDRESS: '127.0.0.1:1', ENCRYPTION_KEY: undefined };
    for (const [command, options] of Object.entries(expected)) {
      const ran = await cli([...command.split(' '), '--help'], env);
      expect(ran.code, command).toBe(EXIT.ok);
      expect(ran.stdout, command).toContain(`Usage: solar-iot ${command}`);
      for (const option of options) expect(ran.stdout, command).toContain(option);
    }
    const top = await cli(['--help'], env);
    for (const command of Object.keys(expected)) expect(top.stdout).toContain(command.split(' ')[0]);
  });
});
