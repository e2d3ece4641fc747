import { ApplicationFailure, condition, setHandler } from '@temporalio/workflow';
import type { CertificateRef } from './activity-contracts/certificates.js';
import { createSteps } from './activity-options.js';
import { DEFAULT_CSR_TIMEOUT_MS, submitCsrUpdate } from './contract.js';
import type { Progress } from './progress.js';
import { releaseCertificate } from './release-certificate.js';
import type { Saga } from './saga.js';

/**
 * The CSR a device-csr provision waits for, delivered by the submitCsr update. The handler is
 * registered in every provision, so a CSR sent to one that makes its own key is refused at once
 * (CsrNotExpected) instead of lingering; registering a handler issues no command, so histories
 * recorded before device-csr existed replay unchanged. The validator decides, before anything
 * is written to history: one CSR per provision, and only while it still wants one.
 */
export class CsrInbox {
  private csrPem: string | undefined;
  private closedBecause: string | undefined;

  constructor(
    private readonly plantId: string,
    private readonly thingName: string,
    readonly expecting: boolean,
  ) {
    setHandler(
      submitCsrUpdate,
      ({ csrPem }) => {
        this.csrPem = csrPem;
        return { plantId: this.plantId, thingName: this.thingName };
      },
      { validator: (input) => this.validate(input) },
    );
  }

  /** No CSR is taken from here on (the provision failed, timed out, was cancelled or had nothing to do). */
  close(reason: string): void {
    this.closedBecause ??= reason;
  }

  received(): string | undefined {
    return this.csrPem;
  }

  private validate(input: unknown): void {
    const { plantId } = this;
    if (!this.expecting) {
      throw ApplicationFailure.nonRetryable(
        `The provision of plant ${plantId} makes the key itself (certificate mode server) and takes no CSR; provision the plant with certificateMode device-csr to have the device make its key`,
        'CsrNotExpected',
      );
    }
    if (this.csrPem !== undefined) {
      throw ApplicationFailure.nonRetryable(
        `The provision of plant ${plantId} accepted a CSR already; it takes one`,
        'CsrAlreadyAccepted',
      );
    }
    if (this.closedBecause !== undefined) {
      throw ApplicationFailure.nonRetryable(
        `The provision of plant ${plantId} no longer waits for a CSR: ${this.closedBecause}`,
        'CsrNotExpected',
      );
    }
    const { csrPem } = (input ?? {}) as { csrPem?: unknown };
    // The content is checked by the service before and by the worker after (Node crypto).
    if (typeof csrPem !== 'string' || csrPem.trim() === '')
      throw ApplicationFailure.nonRetryable('csrPem must be a non-empty PEM string', 'InvalidCsr');
  }
}

/** 259200000 -> `3d`: the largest unit that divides it, for the timeout's message. */
function readable(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1_000],
  ] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/**
 * Waits, durably (a timer of days survives worker restarts), for the device's CSR: its own step
 * `await-csr`, with IotStatus `awaiting-csr` in the record and the search attribute meanwhile.
 * A timeout fails the provision, which rolls back the thing; a deprovision cancels the wait.
 */
async function awaitCsr(progress: Progress, inbox: CsrInbox, plantId: string, timeoutMs: number) {
  return progress.step('await-csr', async () => {
    progress.status('awaiting-csr');
    await createSteps.recordCsrWait({ plantId, iotStatus: 'awaiting-csr' });
    const arrived = await condition(() => inbox.received() !== undefined, timeoutMs);
    const csrPem = inbox.received();
    if (!arrived || csrPem === undefined) {
      inbox.close(`no CSR arrived within ${readable(timeoutMs)}`);
      throw ApplicationFailure.nonRetryable(
        `No CSR arrived within ${readable(timeoutMs)} (POST /plants/${plantId}/csr); provision the plant again when its device is ready`,
        'CsrTimeout',
      );
    }
    progress.status('provisioning');
    await createSteps.recordCsrWait({ plantId, iotStatus: 'provisioning' });
    return csrPem;
  });
}

/**
 * The plant's certificate: made from a key generated here (certificate mode server, as
 * CERTIFICATE_MODE says), or, in device-csr mode, certified from the CSR the device sends once the
 * thing exists. Its compensation is registered before the call that creates it, in both modes.
 */
export async function plantCertificate(opts: {
  progress: Progress;
  saga: Saga;
  inbox: CsrInbox;
  plantId: string;
  requestId: string;
  thingName: string;
  policyName: string;
  csrTimeoutMs: number | undefined;
}): Promise<CertificateRef> {
  const { progress, saga, inbox, plantId, requestId, thingName, policyName } = opts;
  const compensation = `certificate of request ${requestId}`;
  if (!inbox.expecting) {
    saga.add(compensation, () => releaseCertificate({ requestId, thingName, policyName }));
    return progress.step('create-certificate', () => createSteps.createCertificate({ plantId, requestId }));
  }
  const csrPem = await awaitCsr(progress, inbox, plantId, opts.csrTimeoutMs ?? DEFAULT_CSR_TIMEOUT_MS);
  saga.add(compensation, () => releaseCertificate({ requestId, thingName, policyName, csrPem }));
  return progress.step('create-certificate', () =>
    createSteps.createCertificateFromDeviceCsr({ plantId, requestId, csrPem }),
  );
}
