/**
 * A typed client of the HTTP API (src/api): what the CLI runs on, and what a Node service can use
 * instead of the library when it should hold neither the key that opens stored device keys nor
 * database access. Method names and answers are the library's (src/service/solar-iot.ts), as the
 * API serves them; errors are the library's SolarIotError with the API's code, so a caller (and
 * the CLI's exit code) handles both alike. Following an operation (`wait`) polls the API.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { IotMode } from '../config/types.js';
import type { IotStatus } from '../db/schema.js';
import type { AgingCertificatesReport } from '../service/certificate-age.js';
import type { DeadLetterDepth } from '../service/dead-letters.js';
import type { CertificateChoice, DeviceCertificate } from '../service/device-csr.js';
import type { CommandOutcome, ShadowView } from '../service/devices.js';
import {
  AnswerTimeoutError,
  ConflictError,
  InvalidInputError,
  NotFoundError,
  OperationFailedError,
  SolarIotError,
} from '../service/errors.js';
import type { OperationView } from '../service/operations.js';
import type { DeprovisionOutcome, ProvisionOutcome } from '../service/plant-lifecycle.js';
import type { ListPlantsOptions, PlantStatus } from '../service/plant-reads.js';
import type { PlantPage } from '../service/plants.js';
import type {
  QuarantineListOptions,
  QuarantinePage,
  QuarantineReplay,
  QuarantineReplaySelection,
  QuarantineSummary,
} from '../service/quarantine.js';
import type { Readiness } from '../service/readiness.js';
import type { ShadowState } from '../service/shadows.js';
import type { LatestTelemetryView, TelemetryQueryOptions, TelemetryView } from '../service/telemetry.js';
import type { BackfillProgress, BackfillResult } from '../workflows/backfill-contract.js';

export interface ApiClientOptions {
  /** Where the API answers, e.g. http://127.0.0.1:3000. */
  url: string;
  /** Its API_TOKEN (none for an API without one, on loopback). */
  token?: string | undefined;
  /** Deadline of each request (default 30 s). */
  timeoutMs?: number;
  /** How often a followed operation is polled (default 500 ms). */
  pollIntervalMs?: number;
}

export interface FollowOptions {
  /** Wait until the operation finished; default false: answer once it started. */
  wait?: boolean;
  /** While waiting: the operation's progress. */
  onProgress?: (operation: OperationView) => void;
}

/** A plant's IoT resources after a provision, from its record (the API never serves key material). */
type RecordedResources = Pick<
  PlantStatus['plant'],
  'thingName' | 'thingArn' | 'certificateId' | 'certificateArn' | 'policyName' | 'ruleName'
>;
/** After `wait`, the resources at the top level too. */
export type ProvisionedOutcome = Omit<ProvisionOutcome, 'resources'> &
  Partial<RecordedResources> & { resources?: RecordedResources };

/** The library's error for an API error answer: same code, the kind its status stands for. */
function errorFor(status: number, code: string, message: string): SolarIotError {
  if (status === 400) return new InvalidInputError(message, code);
  if (status === 404) return new NotFoundError(code, message);
  if (status === 409) return new ConflictError(code, message);
  if (status === 504) return new AnswerTimeoutError(code, message);
  return new SolarIotError(code, status === 503 ? 'unavailable' : 'failed', message);
}

/** The most an answer may hold: the largest (a page of 500 plants, a telemetry query) is far less. */
export const MAX_ANSWER_BYTES = 32 * 1024 * 1024;

type Query = Record<string, string | number | boolean | Date | undefined>;

type Request = <T>(
  method: string,
  path: string,
  init?: { query?: Query; body?: unknown; alsoOk?: number },
) => Promise<T>;

/** A token an HTTP header can carry as `Bearer <token>`: one word of visible ASCII (as API_TOKEN). */
export function isSendableToken(token: string): boolean {
  return /^[\x21-\x7e]+$/.test(token);
}

/** The answer's text, at most MAX_ANSWER_BYTES: whatever answers at the URL cannot exhaust memory. */
async function readAnswer(response: Response, base: string): Promise<string> {
  const tooLarge = () =>
    new SolarIotError(
      'api_bad_answer',
      'failed',
      `The API at ${base} answered ${response.status} with more than ${MAX_ANSWER_BYTES} bytes; is SOLAR_IOT_API_URL the address of the solar-iot API?`,
    );
  if (Number(response.headers.get('content-length')) > MAX_ANSWER_BYTES) {
    await response.body?.cancel();
    throw tooLarge();
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = response.body?.getReader();
  for (let read = await reader?.read(); read && !read.done; read = await reader?.read()) {
    size += read.value.byteLength;
    if (size > MAX_ANSWER_BYTES) {
      await reader?.cancel();
      throw tooLarge();
    }
    chunks.push(read.value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The answer as JSON; anything else (a proxy's error page) named by its status, not a parse error. */
function parseAnswer(text: string, response: Response, base: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    const type = response.headers.get('content-type')?.split(';')[0] || 'no content type';
    throw new SolarIotError(
      'api_bad_answer',
      response.status >= 500 ? 'unavailable' : 'failed',
      `The API at ${base} answered ${response.status} (${type}), not JSON: a proxy or another server answers there. Is SOLAR_IOT_API_URL the address of the solar-iot API?`,
    );
  }
}

/** One API call: JSON in and out, the token, a deadline; an error answer becomes the library's error. */
function requester(base: string, token: string | undefined, timeoutMs: number): Request {
  return async function request<T>(
    method: string,
    path: string,
    init: { query?: Query; body?: unknown; alsoOk?: number } = {},
  ): Promise<T> {
    const url = new URL(`${base}${path}`);
    for (const [k, v] of Object.entries(init.query ?? {}))
      if (v !== undefined) url.searchParams.set(k, v instanceof Date ? v.toISOString() : String(v));
    let response: Response;
    let text: string;
    try {
      response = await fetch(url, {
        method,
        headers: {
          accept: 'application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
        signal: AbortSignal.timeout(timeoutMs),
      });
      text = await readAnswer(response, base);
    } catch (error) {
      if (error instanceof SolarIotError) throw error;
      const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
      throw new SolarIotError(
        'api_unreachable',
        'unavailable',
        `The API at ${base} did not answer (${cause}); is it running (\`npm start\`)? Its address: SOLAR_IOT_API_URL`,
        { cause: error },
      );
    }
    const body = parseAnswer(text, response, base);
    if (response.ok || response.status === init.alsoOk) return body as T;
    const error = (body as { error?: { code?: string; message?: string; details?: Record<string, unknown> } })
      ?.error;
    const message = error?.message ?? `${method} ${path} answered ${response.status}`;
    if (response.status === 401 || response.status === 403) {
      throw new SolarIotError(
        error?.code ?? 'unauthorized',
        'invalid',
        `The API at ${base} refused the request (${response.status}: ${message}). Fix: set SOLAR_IOT_API_TOKEN (or SOLAR_IOT_API_TOKEN_FILE) to its API_TOKEN`,
      );
    }
    throw errorFor(response.status, error?.code ?? 'api_error', message);
  };
}

/** Polls the plant until the run `runId` of its operation closed; its lastError when it failed. */
async function followOperation(
  getStatus: (plantId: string) => Promise<PlantStatus>,
  pollIntervalMs: number,
  plantId: string,
  runId: string,
  onProgress?: FollowOptions['onProgress'],
): Promise<PlantStatus> {
  for (;;) {
    const status = await getStatus(plantId);
    const op = status.operation;
    if (op && op.runId === runId) {
      if (op.state === 'running') onProgress?.(op);
      else if (op.state === 'completed') return status;
      else
        throw new OperationFailedError(
          `${op.workflowId} ${op.state}${status.plant.lastError ? `: ${status.plant.lastError}` : ''}`,
        );
    }
    await sleep(pollIntervalMs);
  }
}

export function createApiClient(options: ApiClientOptions) {
  const base = options.url.replace(/\/+$/, '');
  if (options.token !== undefined && !isSendableToken(options.token))
    throw new InvalidInputError(
      `The API token (value hidden, ${options.token.length} characters) is not one word of visible ASCII characters, which an HTTP header cannot carry`,
    );
  const timeoutMs = options.timeoutMs ?? 30_000;
  const pollIntervalMs = options.pollIntervalMs ?? 500;

  const request = requester(base, options.token, timeoutMs);

  const plantPath = (id: string) => `/plants/${encodeURIComponent(id)}`;

  const untilClosed = (plantId: string, runId: string, onProgress?: FollowOptions['onProgress']) =>
    followOperation(client.getPlantIoTStatus, pollIntervalMs, plantId, runId, onProgress);

  const client = {
    /** The API's own check of Temporal, PostgreSQL and AWS (with the token: where and why). */
    checkReadiness(): Promise<Readiness> {
      // 503 with its report when not ready: the report is the answer.
      return request('GET', '/readyz', { alsoOk: 503 });
    },

    createPlant(input: { name: string; id?: string | undefined } & CertificateChoice): Promise<PlantStatus> {
      return request('POST', '/plants', { body: input });
    },

    /** Certificate mode device-csr: the device's CSR (PEM); answers with the certificate of its key. */
    submitDeviceCsr(plantId: string, csrPem: string): Promise<DeviceCertificate> {
      return request('POST', `${plantPath(plantId)}/csr`, { body: { csr: csrPem } });
    },

    getPlantIoTStatus(plantId: string): Promise<PlantStatus> {
      return request('GET', plantPath(plantId));
    },

    listPlants(query: ListPlantsOptions = {}): Promise<PlantPage & { iotMode: IotMode }> {
      return request('GET', '/plants', { query: { ...query } });
    },

    /**
     * Starts provisioning the plant (a plant not known yet is created with `plantName`), and with
     * `wait` follows it to its end.
     */
    async provisionPlantIoT(
      plantId: string,
      plantName?: string,
      follow_: FollowOptions & CertificateChoice = {},
    ): Promise<ProvisionedOutcome> {
      const { certificateMode, csrTimeout } = follow_;
      const choice = { certificateMode, csrTimeout };
      const chosen = certificateMode !== undefined || csrTimeout !== undefined;
      let outcome: Omit<ProvisionOutcome, 'resources'>;
      try {
        outcome = await request('POST', `${plantPath(plantId)}/provision`, chosen ? { body: choice } : {});
      } catch (error) {
        if (!(error instanceof NotFoundError) || plantName === undefined) {
          if (error instanceof NotFoundError)
            throw new InvalidInputError(
              `Plant ${plantId} is not known yet: give its name to create and provision it`,
            );
          throw error;
        }
        const created = await client.createPlant({ id: plantId, name: plantName, ...choice });
        const op = created.operation;
        outcome = {
          iotMode: created.iotMode,
          plantId,
          iotStatus: created.plant.iotStatus,
          workflowId: op?.workflowId ?? null,
          runId: op?.runId ?? null,
        };
      }
      if (!follow_.wait || !outcome.runId) return outcome;
      const { plant } = await untilClosed(plantId, outcome.runId, follow_.onProgress);
      const { thingName, thingArn, certificateId, certificateArn, policyName, ruleName } = plant;
      const resources = { thingName, thingArn, certificateId, certificateArn, policyName, ruleName };
      // Also at the top level, where the seed's callers read them (as the library answers).
      return { ...outcome, ...resources, iotStatus: plant.iotStatus, resources };
    },

    /** Starts removing the plant's IoT identity, and with `wait` follows it to its end. */
    async deprovisionPlantIoT(plantId: string, follow_: FollowOptions = {}): Promise<DeprovisionOutcome> {
      const outcome = await request<DeprovisionOutcome>('DELETE', plantPath(plantId));
      if (!follow_.wait || !outcome.runId) return outcome;
      const { plant, operation } = await untilClosed(plantId, outcome.runId, follow_.onProgress);
      // What the workflow removed, as the library answers it, when the API could read its result.
      const removed = operation?.removed;
      return {
        ...outcome,
        iotStatus: plant.iotStatus as IotStatus,
        ...(removed ? { result: { plantId, removed } } : {}),
      };
    },

    getThingShadow(plantId: string, opts: { shadowName?: string | undefined } = {}): Promise<ShadowView> {
      return request('GET', `${plantPath(plantId)}/shadow`, { query: { name: opts.shadowName } });
    },

    updateThingShadow(
      plantId: string,
      desired: ShadowState,
      opts: { shadowName?: string | undefined; version?: number | undefined } = {},
    ): Promise<ShadowView> {
      return request('PATCH', `${plantPath(plantId)}/shadow`, {
        query: { name: opts.shadowName },
        body: { desired, ...(opts.version === undefined ? {} : { version: opts.version }) },
      });
    },

    publishCommand(
      plantId: string,
      command: string,
      params: unknown,
      opts: { qos?: 0 | 1 } = {},
    ): Promise<CommandOutcome> {
      return request('POST', `${plantPath(plantId)}/commands`, {
        body: { command, params, ...(opts.qos === undefined ? {} : { qos: opts.qos }) },
      });
    },

    startBackfill(
      opts: { workflowId?: string; concurrency?: number | undefined; pageSize?: number | undefined } = {},
    ): Promise<{
      iotMode: IotMode;
      workflowId: string;
      runId: string;
    }> {
      return request('POST', '/backfill', { body: opts });
    },

    ...backfillCalls(request, pollIntervalMs),

    ...reportCalls(request, plantPath),

    ...quarantineCalls(request),
  };
  return client;
}

/** Reads of reports: certificate ages, telemetry, the rules' dead letters. */
function reportCalls(request: Request, plantPath: (id: string) => string) {
  return {
    listAgingCertificates(
      query: { olderThanDays?: number | undefined; limit?: number | undefined } = {},
    ): Promise<AgingCertificatesReport> {
      return request('GET', '/certificates/aging', { query });
    },

    getTelemetry(plantId: string, query: TelemetryQueryOptions = {}): Promise<TelemetryView> {
      return request('GET', `${plantPath(plantId)}/telemetry`, { query: { ...query } });
    },

    getLatestTelemetry(plantId: string): Promise<LatestTelemetryView> {
      return request('GET', `${plantPath(plantId)}/telemetry/latest`);
    },

    /** Failed telemetry rule deliveries waiting in the dead-letter queue. */
    getDeadLetters(): Promise<DeadLetterDepth> {
      return request('GET', '/telemetry/dead-letters');
    },
  };
}

/** The ingest consumer's quarantine: counts, pages of messages, replay after a fix. */
function quarantineCalls(request: Request) {
  return {
    getQuarantineSummary(): Promise<QuarantineSummary> {
      return request('GET', '/telemetry/quarantine');
    },

    listQuarantinedMessages(query: QuarantineListOptions = {}): Promise<QuarantinePage> {
      return request('GET', '/telemetry/quarantine/messages', { query: { ...query } });
    },

    /** `ids`, or `reason` (with `limit`, `cursor`): see the service's replayQuarantined. */
    replayQuarantined(selection: QuarantineReplaySelection): Promise<QuarantineReplay> {
      return request('POST', '/telemetry/quarantine/replay', { body: selection });
    },
  };
}

/** Following a backfill through GET /backfill. */
function backfillCalls(request: Request, pollIntervalMs: number) {
  const calls = {
    /** The backfill's progress, or null if none with this id ever ran. */
    async getBackfillProgress(workflowId?: string): Promise<BackfillProgress | null> {
      try {
        return await request('GET', '/backfill', { query: { workflowId } });
      } catch (error) {
        if (error instanceof NotFoundError) return null;
        throw error;
      }
    },

    /** Polls the backfill until it finished, reporting its progress meanwhile. */
    async waitForBackfill(
      workflowId?: string,
      opts: { onProgress?: (p: BackfillProgress) => void } = {},
    ): Promise<BackfillResult> {
      for (;;) {
        // Between two runs (continue-as-new) the progress can be missing for a moment.
        const progress = await calls.getBackfillProgress(workflowId).catch((error: unknown) => {
          if (error instanceof SolarIotError && error.kind === 'unavailable') return null;
          throw error;
        });
        if (progress?.finished) {
          const { done, failed, skipped, failures, runs, startedAt, finished } = progress;
          return { done, failed, skipped, failures, runs, startedAt, finished };
        }
        if (progress) opts.onProgress?.(progress);
        await sleep(pollIntervalMs);
      }
    },
  };
  return calls;
}

export type ApiClient = ReturnType<typeof createApiClient>;
