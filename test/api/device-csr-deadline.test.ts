/**
 * POST /plants/{id}/csr answers within its deadline whatever the provision does: it hands the CSR
 * to the provision (the submitCsr update, which only a running worker accepts) and waits for the
 * certificate (the provision's end). Fault injection: no worker at all, and a worker whose
 * CreateCertificateFromCsr activity is held. The API answers 504 (`csr_not_answered`, resp.
 * `certificate_pending`) once the deadline passed, and the same CSR sent again once the worker runs
 * gets the certificate. Real Temporal, moto, PostgreSQL; the deadline is short here (2 s) so the
 * file takes seconds.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createApiClient } from '../../src/api-client/client.js';
import { thingNameFor } from '../../src/iot/naming.js';
import type { PlantStatus } from '../../src/service/solar-iot.js';
import { deviceCsr } from '../support/device-csr.js';
import { TestStack } from '../support/product-stack.js';
import type { ActivityOverrides } from '../support/worker.js';

const DEADLINE_MS = 2_000;

let stack: TestStack;
let base: string;
let token: string;

/** Closed: the worker's createCertificateFromDeviceCsr waits (an AWS call that does not come back). */
let gate: Promise<void> = Promise.resolve();
const overrides: ActivityOverrides = {
  async createCertificateFromDeviceCsr(input) {
    await gate;
    return stack.realActivities().createCertificateFromDeviceCsr(input);
  },
};

beforeAll(async () => {
  stack = await TestStack.start({ mode: 'aws', overrides, solarIot: { csrAnswerTimeoutMs: DEADLINE_MS } });
  const env = await stack.serveApi();
  base = env.SOLAR_IOT_API_URL ?? '';
  token = env.SOLAR_IOT_API_TOKEN ?? '';
});

afterAll(async () => {
  await stack?.close();
});

const request = <T>(method: string, path: string, body?: string) =>
  stack.api<T>(method, path, { body, contentType: 'application/x-pem-file' });

type ErrorBody = { error: { code: string; message: string } };

/** A device-csr plant whose provision waits for the CSR (step await-csr). */
async function plantAwaitingCsr(name: string): Promise<{ plantId: string; csrPem: string }> {
  const created = await stack.solarIot.createPlant({ name, certificateMode: 'device-csr' });
  const plantId = created.plant.id;
  await stack.until(async () => {
    const { body } = await request<PlantStatus>('GET', `/plants/${plantId}`);
    return body.operation?.currentStep === 'await-csr' && body.plant.iotStatus === 'awaiting-csr';
  });
  return { plantId, csrPem: (await deviceCsr(`CN=${thingNameFor(plantId)}`)).csrPem };
}

/** What a device does after a 504: sends the same CSR again until it gets its certificate. */
async function resendUntilIssued(plantId: string, csrPem: string) {
  return stack.until(async () => {
    const answer = await request<{ certificateId?: string } & Partial<ErrorBody>>(
      'POST',
      `/plants/${plantId}/csr`,
      csrPem,
    );
    if (answer.status === 504) return undefined;
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    return answer.body;
  });
}

describe('POST /plants/{id}/csr under its deadline', () => {
  it('no worker runs the provision: 504 csr_not_answered; the same CSR once a worker runs gets the certificate', async () => {
    const { plantId, csrPem } = await plantAwaitingCsr('No worker');
    await stack.stopWorker();
    try {
      const answer = await request<ErrorBody>('POST', `/plants/${plantId}/csr`, csrPem);
      expect(answer.status, JSON.stringify(answer.body)).toBe(504);
      expect(answer.body.error.code).toBe('csr_not_answered');
      expect(answer.body.error.message).toMatch(/within 2 s/);
      expect(answer.body.error.message).toMatch(/worker/);
      expect(answer.body.error.message).toMatch(/send the same CSR again/i);
      // The API client (CLI, library's createApiClient) throws it as the timeout it is.
      await expect(
        createApiClient({ url: base, token }).submitDeviceCsr(plantId, csrPem),
      ).rejects.toMatchObject({
        name: 'AnswerTimeoutError',
        kind: 'timeout',
        code: 'csr_not_answered',
      });
    } finally {
      await stack.startWorker(overrides);
    }
    const issued = await resendUntilIssued(plantId, csrPem);
    expect((await stack.plantRow(plantId))?.certificateId).toBe(issued.certificateId);
  });

  it('the provision took the CSR but does not finish: 504 certificate_pending; the same CSR later gets the certificate', async () => {
    const { plantId, csrPem } = await plantAwaitingCsr('Held certificate');
    let open: () => void = () => {};
    gate = new Promise((resolve) => {
      open = resolve;
    });
    try {
      const answer = await request<ErrorBody>('POST', `/plants/${plantId}/csr`, csrPem);
      expect(answer.status, JSON.stringify(answer.body)).toBe(504);
      expect(answer.body.error.code).toBe('certificate_pending');
      expect(answer.body.error.message).toMatch(/took the CSR/);
      expect(answer.body.error.message).toMatch(/send the same CSR again/i);
      // While it is still held, a resend waits no longer than the first request did.
      const again = await request<ErrorBody>('POST', `/plants/${plantId}/csr`, csrPem);
      expect(again.status, JSON.stringify(again.body)).toBe(504);
      expect(again.body.error.code).toBe('certificate_pending');
    } finally {
      open();
      gate = Promise.resolve();
    }
    const issued = await resendUntilIssued(plantId, csrPem);
    expect((await stack.plantRow(plantId))?.certificateId).toBe(issued.certificateId);
  });
});
