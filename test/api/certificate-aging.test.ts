/**
 * The certificate-age report: active plants whose certificate was activated longer ago than
 * CERTIFICATE_MAX_AGE_DAYS (or the age asked for), through GET /certificates/aging and
 * `solar-iot certificates aging`, on certificate rows as provisioning records them.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OpenApiDocument } from '../../src/api/openapi.js';
import { EXIT } from '../../src/cli/io.js';
import { certificates, type IotStatus, plants } from '../../src/db/schema.js';
import type { AgingCertificatesReport } from '../../src/service/certificate-age.js';
import { runCli } from '../support/cli.js';
import { TestStack } from '../support/product-stack.js';

let stack: TestStack;

const daysAgo = (days: number) => new Date(Date.now() - days * 24 * 3600 * 1000);

/** A plant on a certificate activated `days` ago (or only created then, never activated). */
async function plantWithCertificate(
  days: number,
  iotStatus: IotStatus = 'active',
  activated = true,
): Promise<{ plantId: string; certificateId: string }> {
  const plantId = `aging-${randomUUID()}`;
  const certificateId = randomUUID().replaceAll('-', '');
  await stack.database.db.insert(plants).values({
    id: plantId,
    name: `Aging ${days}d`,
    iotStatus,
    certificateId,
    certificateArn: `arn:aws:iot:us-east-1:123456789012:cert/${certificateId}`,
  });
  await stack.database.db.insert(certificates).values({
    requestId: `aging-test/${plantId}`,
    plantId,
    certificateId,
    status: 'active',
    createdAt: daysAgo(days),
    activatedAt: activated ? daysAgo(days) : null,
  });
  return { plantId, certificateId };
}

const ids = (report: AgingCertificatesReport) => report.certificates.map((c) => c.plantId);

let ancient: { plantId: string; certificateId: string };
let fortyDays = '';
let neverActivated = '';
let tenDays = '';
let failedAncient = '';

beforeAll(async () => {
  // CERTIFICATE_MAX_AGE_DAYS=30 for the API (the service's default), which the CLI calls.
  stack = await TestStack.start({
    mode: 'disabled',
    env: { CERTIFICATE_MAX_AGE_DAYS: '30' },
    solarIot: { certificateMaxAgeDays: 30 },
  });
  await stack.serveApi();

  ancient = await plantWithCertificate(3_600);
  fortyDays = (await plantWithCertificate(40)).plantId;
  neverActivated = (await plantWithCertificate(3_500, 'active', false)).plantId;
  tenDays = (await plantWithCertificate(10)).plantId;
  failedAncient = (await plantWithCertificate(3_600, 'failed')).plantId;
});

afterAll(async () => stack?.close());

describe('certificate age report', () => {
  it('GET /certificates/aging lists active plants on a certificate older than CERTIFICATE_MAX_AGE_DAYS, oldest first', async () => {
    const { status, body } = await stack.apiGet<AgingCertificatesReport>('/certificates/aging?limit=500');
    expect(status).toBe(200);
    expect(body.olderThanDays).toBe(30);
    expect(Date.parse(body.activatedBefore)).toBeLessThan(daysAgo(29.9).getTime());
    expect(ids(body)).toEqual(expect.arrayContaining([ancient.plantId, fortyDays, neverActivated]));
    expect(ids(body)).not.toContain(tenDays);
    expect(ids(body)).not.toContain(failedAncient); // not in service: nothing to rotate
    expect(body.total).toBeGreaterThanOrEqual(3);
    const first = body.certificates.find((c) => c.plantId === ancient.plantId);
    expect(first).toEqual({
      plantId: ancient.plantId,
      plantName: 'Aging 3600d',
      certificateId: ancient.certificateId,
      activatedAt: expect.any(String),
      ageDays: 3_600,
    });
    // Oldest first.
    const ages = body.certificates.map((c) => c.ageDays);
    expect(ages).toEqual([...ages].sort((a, b) => b - a));
  });

  it('takes another age and a limit; the total counts beyond the limit', async () => {
    const year = (
      await stack.apiGet<AgingCertificatesReport>('/certificates/aging?olderThanDays=365&limit=500')
    ).body;
    expect(year.olderThanDays).toBe(365);
    expect(ids(year)).toEqual(expect.arrayContaining([ancient.plantId, neverActivated]));
    expect(ids(year)).not.toContain(fortyDays);

    const one = (await stack.apiGet<AgingCertificatesReport>('/certificates/aging?limit=1')).body;
    expect(one.certificates).toHaveLength(1);
    expect(one.total).toBeGreaterThanOrEqual(3);
  });

  it('refuses a bad age with 400, a caller without the token with 401, and is in the OpenAPI document', async () => {
    for (const bad of ['0', '3651', 'soon']) {
      const { status } = await stack.apiGet(`/certificates/aging?olderThanDays=${bad}`);
      expect(status, bad).toBe(400);
    }
    expect((await stack.apiGet('/certificates/aging', null)).status).toBe(401);
    const doc = (await stack.apiGet<OpenApiDocument>('/openapi.json', null)).body;
    const operation = doc.paths['/certificates/aging']?.get as { security: unknown[]; operationId: string };
    expect(operation.operationId).toBe('listAgingCertificates');
    expect(operation.security.length).toBeGreaterThan(0);
  });

  it('solar-iot certificates aging: the table, --json, --older-than-days, and a usage error', async () => {
    const cli = (argv: string[]) => runCli(argv, { ...stack.env, ...stack.apiEnv });
    const asJson = await cli(['--json', 'certificates', 'aging', '--limit', '500']);
    expect(asJson.code).toBe(EXIT.ok);
    const report = JSON.parse(asJson.stdout) as AgingCertificatesReport;
    expect(report.olderThanDays).toBe(30); // CERTIFICATE_MAX_AGE_DAYS of its environment
    expect(ids(report)).toEqual(expect.arrayContaining([ancient.plantId, fortyDays]));
    expect(ids(report)).not.toContain(tenDays);

    const text = await cli(['certificates', 'aging', '--older-than-days', '365', '--limit', '500']);
    expect(text.code).toBe(EXIT.ok);
    expect(text.stdout).toMatch(/PLANT.*CERTIFICATE.*ACTIVATED.*AGE \(DAYS\)/);
    expect(text.stdout).toMatch(new RegExp(`${ancient.plantId}.*3600`));
    expect(text.stdout).not.toContain(fortyDays);
    expect(text.stdout).toMatch(/certificate\(s\) older than 365 days/);

    const bad = await cli(['certificates', 'aging', '--older-than-days', 'soon']);
    expect(bad.code).toBe(EXIT.usage);
  });
});
