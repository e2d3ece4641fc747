/**
 * Secure by default (issue 13): the API's token, Host and Origin checks, workflow ids a caller
 * cannot use to squat a plant's, bad input answered 4xx with a body naming the problem, and no
 * internal address in answers to callers without the token. Real listening servers over the real
 * stack (Temporal dev server, moto, PostgreSQL).
 */
import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CreateTopicRuleCommand, DeleteTopicRuleCommand, GetTopicRuleCommand } from '@aws-sdk/client-iot';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/api/server.js';
import { createDb } from '../../src/db/client.js';
import { plants } from '../../src/db/schema.js';
import { plantRuleNameFor, SHARED_RULE_NAME } from '../../src/iot/naming.js';
import { startRotation } from '../../src/rotation/client.js';
import { rotateCertificateWorkflowId } from '../../src/rotation/contract.js';
import { createSolarIot, type SolarIot } from '../../src/service/solar-iot.js';
import { deprovisionWorkflowId, provisionWorkflowId } from '../../src/workflows/contract.js';
import { freePort } from '../../tools/stack/processes.js';
import { ran, started, tsx } from '../support/child.js';
import { envFor, TestStack } from '../support/product-stack.js';

const TOKEN = 'secure-test-token-0123456789';
const ALLOWED_NAME = 'api.example.test';

let stack: TestStack;
const closers: (() => Promise<void>)[] = [];
const port: Record<'secured' | 'open' | 'openPgDown' | 'securedPgDown', number> = {} as never;

async function serve(solarIot: SolarIot, token: string | undefined): Promise<number> {
  const api = buildServer({ solarIot, settings: { token, allowedHosts: [ALLOWED_NAME] } });
  await api.app.listen({ port: 0, host: '127.0.0.1' });
  closers.push(() => api.app.close());
  return (api.app.server.address() as AddressInfo).port;
}

interface Answer {
  status: number;
  text: string;
  body: { error?: { code: string; message: string } } & Record<string, unknown>;
}

/** node:http, not fetch: fetch does not let a caller choose the Host header. */
function send(
  to: number,
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: unknown; raw?: string; token?: string | null } = {},
): Promise<Answer> {
  const token = options.token === undefined ? TOKEN : options.token;
  const payload = options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port: to,
        method,
        path,
        headers: {
          host: `127.0.0.1:${to}`,
          ...(token === null ? {} : { authorization: `Bearer ${token}` }),
          ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
          ...options.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: Answer['body'] = {};
          try {
            body = JSON.parse(text) as Answer['body'];
          } catch {
            // not JSON: the test looks at text
          }
          resolve({ status: res.statusCode ?? 0, text, body });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** `{"a":{"a":...1}}` with `levels` objects, as text: what an attacker sends, never built as an object. */
function nested(levels: number): string {
  return `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;
}

beforeAll(async () => {
  stack = await TestStack.start({ mode: 'aws' });
  port.secured = await serve(stack.solarIot, TOKEN);
  port.open = await serve(stack.solarIot, undefined);
  const closedPort = await freePort();
  const deadDb = createDb(`postgres://nobody:nothing@127.0.0.1:${closedPort}/none`);
  closers.push(() => deadDb.close());
  const pgDown = createSolarIot({
    config: stack.config,
    temporal: stack.temporal,
    db: deadDb.db,
    aws: stack.aws,
  });
  port.openPgDown = await serve(pgDown, undefined);
  port.securedPgDown = await serve(pgDown, TOKEN);
});

afterAll(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
  await stack?.close();
});

describe('item 2: the API is closed by default', () => {
  it('answers 401 without the token and with a wrong one; the liveness probe needs none', async () => {
    const missing = await send(port.secured, 'GET', '/plants', { token: null });
    expect(missing.status).toBe(401);
    expect(missing.body.error?.code).toBe('unauthorized');
    const wrong = await send(port.secured, 'GET', '/plants', { token: 'x'.repeat(30) });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error?.message).toMatch(/token is wrong/);
    expect((await send(port.secured, 'GET', '/plants')).status).toBe(200);
    expect((await send(port.secured, 'GET', '/healthz', { token: null })).status).toBe(200);
  });

  it('refuses a foreign Origin with 403 on every route, token or not; accepts its own origin', async () => {
    for (const [method, path] of [
      ['GET', '/plants'],
      ['POST', '/backfill'],
      ['DELETE', `/plants/${randomUUID()}`],
      ['GET', '/openapi.json'],
    ] as const) {
      for (const to of [port.secured, port.open]) {
        const answer = await send(to, method, path, {
          headers: { origin: 'https://evil.example.com' },
          ...(method === 'POST' ? { body: {} } : {}),
        });
        expect(answer.status, `${method} ${path}`).toBe(403);
        expect(answer.body.error).toMatchObject({ code: 'forbidden_origin' });
        expect(answer.body.error?.message).toMatch(/Origin https:\/\/evil\.example\.com/);
      }
    }
    expect(
      (await send(port.secured, 'GET', '/plants', { headers: { origin: 'null' } })).body.error?.code,
    ).toBe('forbidden_origin');
    const own = await send(port.secured, 'GET', '/plants', {
      headers: { origin: `http://localhost:${port.secured}` },
    });
    expect(own.status).toBe(200);
  });

  it('refuses an unknown Host with 403 (DNS rebinding); loopback names with the port and configured names pass', async () => {
    for (const host of ['rebind.attacker.example', `rebind.attacker.example:${port.open}`, 'localhost:1']) {
      for (const to of [port.secured, port.open]) {
        const answer = await send(to, 'GET', '/plants', { headers: { host } });
        expect(answer.status, host).toBe(403);
        expect(answer.body.error).toMatchObject({ code: 'forbidden_host' });
        expect(answer.body.error?.message).toContain('API_ALLOWED_HOSTS');
      }
    }
    for (const host of [
      `localhost:${port.open}`,
      `127.0.0.1:${port.open}`,
      `[::1]:${port.open}`,
      ALLOWED_NAME,
      `${ALLOWED_NAME}:8443`,
    ]) {
      expect((await send(port.open, 'GET', '/plants', { headers: { host } })).status, host).toBe(200);
    }
  });

  it('refuses to start on a non-loopback API_HOST without API_TOKEN, naming the variable', async () => {
    const env = await envFor('aws', 'never-polled-queue', {
      PORT: String(await freePort()),
      API_HOST: '0.0.0.0',
    });
    delete env.API_TOKEN;
    const { code, output } = await ran(tsx(['src/api/main.ts']), { env }, 60_000);
    expect(code, output).toBe(2);
    expect(output).toMatch(/API_TOKEN/);
    expect(output).toMatch(/0\.0\.0\.0/);
  });
  it('a second instance on the same port exits 2 with one line naming PORT, not a stack trace', async () => {
    const env = await envFor('aws', 'never-polled-queue', {
      PORT: String(await freePort()),
      API_TOKEN: TOKEN,
    });
    const first = started(tsx(['src/api/main.ts']), { env });
    try {
      await stack.until(async () =>
        (await fetch(`http://127.0.0.1:${env.PORT}/healthz`).catch(() => undefined))?.ok ? true : undefined,
      );
      const second = await ran(tsx(['src/api/main.ts']), { env }, 60_000);
      expect(second.code, second.output).toBe(2);
      expect(second.output).toMatch(/PORT/);
      expect(second.output).toMatch(new RegExp(`${env.PORT}.*in use`));
      expect(second.output).not.toMatch(/^\s+at /m);
    } finally {
      await first.stop();
    }
  });
});

describe('item 5: caller-chosen workflow ids cannot squat a plant', () => {
  it('prefixes a caller backfill id, so it never lands on a provision or deprovision id', async () => {
    const plantId = randomUUID();
    for (const squat of [deprovisionWorkflowId(plantId), provisionWorkflowId(plantId)]) {
      const started = await send(port.secured, 'POST', '/backfill', { body: { workflowId: squat } });
      expect(started.status).toBe(202);
      expect(started.body.workflowId).toBe(`backfill-${squat}`);
    }
    // Already prefixed (the default and what a start answered): used as is, so it can be followed.
    const again = await send(port.secured, 'POST', '/backfill', {
      body: { workflowId: `backfill-${deprovisionWorkflowId(plantId)}` },
    });
    expect(again.body.workflowId).toBe(`backfill-${deprovisionWorkflowId(plantId)}`);
    const followed = await send(
      port.secured,
      'GET',
      `/backfill?workflowId=${deprovisionWorkflowId(plantId)}`,
    );
    expect(followed.status).toBe(200);
    const long = await send(port.secured, 'POST', '/backfill', { body: { workflowId: 'x'.repeat(300) } });
    expect(long.status).toBe(400);
    expect(long.body.error?.message).toMatch(/workflowId/);
  });

  it('refuses to attach a DELETE or a provision to a running workflow of another type under the plant id', async () => {
    for (const [id, action] of [
      [deprovisionWorkflowId, 'delete'],
      [provisionWorkflowId, 'provision'],
    ] as const) {
      const plantId = randomUUID();
      await stack.database.db
        .insert(plants)
        .values({ id: plantId, name: 'squatted', iotStatus: action === 'delete' ? 'active' : 'failed' });
      // What a caller who reaches Temporal (or an old API) could leave under the plant's id.
      const squatter = await stack.temporal.workflow.start('backfillPlants', {
        args: [{}],
        taskQueue: `nobody-polls-${randomUUID()}`,
        workflowId: id(plantId),
      });
      try {
        const answer =
          action === 'delete'
            ? await send(port.secured, 'DELETE', `/plants/${plantId}`)
            : await send(port.secured, 'POST', `/plants/${plantId}/provision`, { body: {} });
        expect(answer.status, `${action}: ${answer.text}`).toBe(409);
        expect(answer.body.error?.code).toBe('workflow_id_in_use');
        expect(answer.body.error?.message).toContain('backfillPlants');
      } finally {
        await squatter.terminate('test over');
      }
    }
  });
  it("a deprovision neither cancels nor waits for another type's workflow squatting the plant's rotation or provision id", async () => {
    const created = await send(port.secured, 'POST', '/plants', { body: { name: 'Squatted rotation id' } });
    const plantId = (created.body.plant as { id: string }).id;
    await stack.until(async () => (await stack.plantRow(plantId))?.iotStatus === 'active');
    // The row turns active one workflow task before the provision closes: its id is free only then.
    await stack.temporal.workflow.getHandle(provisionWorkflowId(plantId)).result();
    // Never polled: a cancel request would stay pending, and a wait for it would never end.
    const squatters = await Promise.all(
      [rotateCertificateWorkflowId(plantId), provisionWorkflowId(plantId)].map((workflowId) =>
        stack.temporal.workflow.start('backfillPlants', {
          args: [{}],
          taskQueue: `nobody-polls-${randomUUID()}`,
          workflowId,
        }),
      ),
    );
    try {
      expect((await send(port.secured, 'DELETE', `/plants/${plantId}`)).status).toBe(202);
      await stack.temporal.workflow.getHandle(deprovisionWorkflowId(plantId)).result();
      expect((await stack.plantRow(plantId))?.iotStatus).toBe('deprovisioned');
      for (const squatter of squatters) {
        const { events } = await squatter.fetchHistory();
        const cancelRequested = (events ?? []).some((e) => e.workflowExecutionCancelRequestedEventAttributes);
        expect(cancelRequested, squatter.workflowId).toBe(false);
      }
    } finally {
      for (const squatter of squatters) await squatter.terminate('test over');
    }
  });

  it('refuses to attach a certificate rotation to a running workflow of another type under its id', async () => {
    const plantId = randomUUID();
    const squatter = await stack.temporal.workflow.start('backfillPlants', {
      args: [{}],
      taskQueue: `nobody-polls-${randomUUID()}`,
      workflowId: rotateCertificateWorkflowId(plantId),
    });
    try {
      await expect(
        startRotation(stack.temporal, { plantId }, { taskQueue: `nobody-polls-${randomUUID()}` }),
      ).rejects.toMatchObject({ code: 'workflow_id_in_use' });
    } finally {
      await squatter.terminate('test over');
    }
  });
});

describe('item 9: bad input answers 4xx naming the problem', () => {
  it('refuses shadow state nested deeper than AWS allows (6 levels) with 400', async () => {
    const plantId = randomUUID();
    for (const levels of [7, 1_000, 5_000]) {
      const answer = await send(port.secured, 'PATCH', `/plants/${plantId}/shadow`, {
        raw: `{"desired":${nested(levels)}}`,
      });
      expect(answer.status, `${levels} levels: ${answer.text.slice(0, 200)}`).toBe(400);
      expect(answer.body.error?.message).toMatch(/6 levels/);
    }
    // Six levels is what AWS accepts: past validation, to the unknown plant.
    const six = await send(port.secured, 'PATCH', `/plants/${plantId}/shadow`, {
      raw: `{"desired":${nested(6)}}`,
    });
    expect(six.body.error?.code).toBe('plant_not_found');
  });

  it('on a provisioned plant too: deep shadow state and commands never reach AWS (was 503 and 500)', async () => {
    const created = await send(port.secured, 'POST', '/plants', { body: { name: 'Deep input plant' } });
    const plantId = (created.body.plant as { id: string }).id;
    await stack.until(async () => (await stack.plantRow(plantId))?.iotStatus === 'active');
    for (const levels of [1_000, 5_000]) {
      const shadow = await send(port.secured, 'PATCH', `/plants/${plantId}/shadow`, {
        raw: `{"desired":${nested(levels)}}`,
      });
      expect(shadow.status, `shadow ${levels}: ${shadow.text.slice(0, 200)}`).toBe(400);
      expect(shadow.body.error?.message).toMatch(/6 levels/);
    }
    const command = await send(port.secured, 'POST', `/plants/${plantId}/commands`, {
      raw: `{"command":"restart","params":${nested(5_000)}}`,
    });
    expect(command.status, command.text.slice(0, 200)).toBe(400);
    const fine = await send(port.secured, 'PATCH', `/plants/${plantId}/shadow`, {
      body: { desired: { a: { b: { c: 1 } } } },
    });
    expect(fine.status).toBe(200);
  });

  it('refuses a command nested 5,000 levels with 400', async () => {
    const answer = await send(port.secured, 'POST', `/plants/${randomUUID()}/commands`, {
      raw: `{"command":"restart","params":${nested(5_000)}}`,
    });
    expect(answer.status, answer.text.slice(0, 200)).toBe(400);
    expect(answer.body.error?.message).toMatch(/levels/);
  });

  it('refuses control characters in plant names (NUL, terminal escapes) with 400', async () => {
    for (const name of ['nul\u0000name', 'red \u001b[31mALERT\u001b[0m', 'csi \u009b2J', 'bell\u0007']) {
      const answer = await send(port.secured, 'POST', '/plants', { body: { name } });
      expect(answer.status, JSON.stringify(name)).toBe(400);
      expect(answer.body.error?.message).toMatch(/control character/);
    }
  });

  it('answers huge query values, paths and bodies with short 4xx bodies naming the limit', async () => {
    const huge = 'a'.repeat(10_000);
    for (const path of [
      `/plants?cursor=${huge}`,
      `/plants?iotStatus=${huge}`,
      `/plants?limit=${'9'.repeat(5_000)}`,
      `/plants/${randomUUID()}/shadow?name=${huge}`,
      `/backfill?workflowId=${huge}`,
      `/${huge}`,
    ]) {
      const answer = await send(port.secured, 'GET', path);
      expect(answer.status, path.slice(0, 40)).toBeGreaterThanOrEqual(400);
      expect(answer.status, path.slice(0, 40)).toBeLessThan(500);
      expect(answer.text.length, path.slice(0, 40)).toBeLessThan(1_000);
    }
    const big = await send(port.secured, 'POST', '/plants', {
      raw: JSON.stringify({ name: 'x'.repeat(300 * 1024) }),
    });
    expect(big.status).toBe(413);
    expect(big.body.error?.message).toMatch(/262144 bytes/);
    const deep = await send(port.secured, 'POST', '/plants', {
      raw: `{"name":"deep","extra":${nested(20_000)}}`,
    });
    expect(deep.status).toBe(400);
  });

  it('echoes no huge key or path back: unknown keys and bad percent-encoding answer short 400s in the API error shape', async () => {
    const huge = 'k'.repeat(10_000);
    const manyKeys = Object.fromEntries(Array.from({ length: 3_000 }, (_, i) => [`key${i}`, 1]));
    for (const [method, path, raw] of [
      ['GET', `/plants?${huge}=1`, undefined],
      ['POST', '/plants', JSON.stringify({ name: 'x', [huge.repeat(10)]: 1 })],
      ['POST', '/backfill', JSON.stringify(manyKeys)],
      ['GET', '/plants/%ff%fe', undefined],
      ['GET', `/plants/%%${'a'.repeat(150)}`, undefined],
      ['DELETE', '/plants/%E0%A4%A', undefined],
    ] as const) {
      const answer = await send(port.secured, method, path, raw === undefined ? {} : { raw });
      const what = `${method} ${path.slice(0, 30)}: ${answer.text.slice(0, 120)}`;
      expect(answer.status, what).toBe(400);
      expect(answer.text.length, what).toBeLessThan(1_000);
      expect(answer.body.error?.code, what).toMatch(/^invalid_/);
    }
  });

  it('updateRule refuses the shared rule, rules it did not create, and SQL that reaches outside', async () => {
    const plantId = randomUUID();
    await expect(
      stack.solarIot.updateRule(SHARED_RULE_NAME, plantId, { description: 'taken over' }),
    ).rejects.toMatchObject({ code: 'rule_not_ours' });

    const foreign = `foreign_rule_${randomUUID().replace(/-/g, '_')}`;
    await stack.aws?.iot.send(
      new CreateTopicRuleCommand({
        ruleName: foreign,
        topicRulePayload: {
          sql: "SELECT * FROM 'other/+/data'",
          actions: [{ lambda: { functionArn: 'arn:aws:lambda:us-east-1:123456789012:function:other' } }],
        },
      }),
    );
    try {
      await expect(
        stack.solarIot.updateRule(foreign, plantId, { sql: `SELECT * FROM 'solar/${plantId}/data'` }),
      ).rejects.toMatchObject({ code: 'rule_not_ours' });
    } finally {
      await stack.aws?.iot.send(new DeleteTopicRuleCommand({ ruleName: foreign }));
    }

    await stack.solarIot.createDataIngestionRule(plantId);
    const ruleName = plantRuleNameFor(plantId);
    for (const sql of [
      `SELECT aws_lambda('arn:aws:lambda:us-east-1:123456789012:function:x', *) FROM 'solar/${plantId}/data'`,
      `SELECT get_secret('db', 'SecretString', 'arn:aws:iam::123456789012:role/r') AS s FROM 'solar/${plantId}/data'`,
      `SELECT * FROM 'solar/${plantId}/data' WHERE get_dynamodb('t', 'k', 'v', 'arn:aws:iam::1:role/r').x = 1`,
      `SELECT machinelearning_predict('m', 'r', *) FROM 'solar/${plantId}/data'`,
      `SELECT aws_lambda/**/('arn:aws:lambda:us-east-1:1:function:x', *) FROM 'solar/${plantId}/data'`,
    ]) {
      await expect(stack.solarIot.updateRule(ruleName, plantId, { sql }), sql).rejects.toMatchObject({
        code: 'invalid_rule_sql',
      });
    }
    const allowed = `SELECT *, topic(2) AS plantId, timestamp() AS receivedAt FROM 'solar/${plantId}/data' WHERE abs(temperature) > 50`;
    expect((await stack.solarIot.updateRule(ruleName, plantId, { sql: allowed })).sql).toBe(allowed);
  });

  it("updateRule refuses another plant's rule: plant A cannot take over the rule routing plant B", async () => {
    const [plantA, plantB] = [randomUUID(), randomUUID()];
    await stack.solarIot.createDataIngestionRule(plantB);
    const ruleOfB = plantRuleNameFor(plantB);
    for (const update of [{ sql: `SELECT * FROM 'solar/${plantA}/data'` }, { description: 'taken over' }]) {
      await expect(
        stack.solarIot.updateRule(ruleOfB, plantA, update),
        JSON.stringify(update),
      ).rejects.toMatchObject({ code: 'rule_not_ours' });
    }
    const inAws = await stack.aws?.iot.send(new GetTopicRuleCommand({ ruleName: ruleOfB }));
    expect(inAws?.rule?.sql).toContain(`'solar/${plantB}/data'`);
  });
});

describe('item 10: no internal detail to callers without the token', () => {
  const leaks = /127\.0\.0\.1|ECONNREFUSED|localhost:\d|:\d{4,5}\b/;

  it('/readyz without the token says which dependency is down, not where or why', async () => {
    for (const to of [port.openPgDown, port.securedPgDown]) {
      const answer = await send(to, 'GET', '/readyz', { token: null });
      expect(answer.status).toBe(503);
      expect(answer.body).toMatchObject({ ready: false, checks: { postgresql: { ok: false } } });
      expect(answer.text).not.toMatch(leaks);
    }
    const healthy = await send(port.open, 'GET', '/readyz', { token: null });
    expect(healthy.text).not.toMatch(leaks);
    // The operator, with the token, sees the detail.
    const detailed = await send(port.securedPgDown, 'GET', '/readyz');
    expect(detailed.text).toMatch(/ECONNREFUSED|127\.0\.0\.1/);
  });

  it('503 answers carry no address or driver error without the token', async () => {
    const open = await send(port.openPgDown, 'GET', '/plants', { token: null });
    expect(open.status).toBe(503);
    expect(open.body.error?.code).toBe('dependency_unavailable');
    expect(open.body.error?.message).toMatch(/PostgreSQL/);
    expect(open.text).not.toMatch(leaks);
    const operator = await send(port.securedPgDown, 'GET', '/plants');
    expect(operator.status).toBe(503);
    expect(operator.text).toMatch(/ECONNREFUSED|127\.0\.0\.1/);
  });
});
