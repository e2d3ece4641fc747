/**
 * Which codec key ids the payloads of open workflows and of schedules are encrypted under: what
 * must stay in TEMPORAL_CODEC_KEYS (or, with derived keys, in ENCRYPTION_KEYS_PREVIOUS) for
 * them to be read. Reads raw histories through the gRPC service, so it needs no key at all.
 * Closed histories in retention also carry payloads; they are not scanned (count them with a
 * visibility query if a retained history must stay readable).
 *
 * It also lists which of them carry payloads not bound to their workflow (written before the
 * binding, payload-codec.ts): while any are open, the worker needs TEMPORAL_ALLOW_UNBOUND_PAYLOADS.
 */
import type { Client } from '@temporalio/client';
import { BINDING_METADATA, KEY_ID_METADATA } from './payload-codec.js';

export interface CodecKeyUsage {
  keyId: string;
  workflows: string[];
  schedules: string[];
}

export interface CodecKeyUsageReport {
  usage: CodecKeyUsage[];
  workflowsScanned: number;
  schedulesScanned: number;
  /** More open workflows than `limit`: the rest were not scanned. */
  truncated: boolean;
  /** Open workflows and schedules with encrypted payloads bound to no workflow. */
  unbound: { workflows: string[]; schedules: string[] };
}

interface Found {
  keyIds: Set<string>;
  unbound: boolean;
}

/** Every key id found in payload metadata anywhere inside `value` (a proto message). */
function keyIdsIn(value: unknown, found: Found, depth = 0): void {
  if (!value || typeof value !== 'object' || depth > 64 || value instanceof Uint8Array) return;
  if (Array.isArray(value)) {
    for (const v of value) keyIdsIn(v, found, depth + 1);
    return;
  }
  const record = value as Record<string, unknown>;
  const metadata = record.metadata as Record<string, unknown> | undefined;
  const id = metadata?.[KEY_ID_METADATA];
  if (id instanceof Uint8Array) {
    found.keyIds.add(Buffer.from(id).toString('utf8'));
    if (!(metadata?.[BINDING_METADATA] instanceof Uint8Array)) found.unbound = true;
  }
  for (const v of Object.values(record)) keyIdsIn(v, found, depth + 1);
}

export async function codecKeyUsage(
  client: Client,
  options: { limit?: number } = {},
): Promise<CodecKeyUsageReport> {
  const limit = options.limit ?? 1000;
  const byKey = new Map<string, CodecKeyUsage>();
  const entry = (keyId: string) => {
    const known = byKey.get(keyId);
    if (known) return known;
    const created: CodecKeyUsage = { keyId, workflows: [], schedules: [] };
    byKey.set(keyId, created);
    return created;
  };
  const unbound: CodecKeyUsageReport['unbound'] = { workflows: [], schedules: [] };
  let workflowsScanned = 0;
  let truncated = false;
  const namespace = client.options.namespace;
  // The raw listing: client.workflow.list() decodes each run's memo, which throws for a memo
  // encrypted with a key no longer configured — the very runs this report is there to find.
  let nextPageToken: Uint8Array | undefined;
  scan: do {
    const page = await client.workflowService.listWorkflowExecutions({
      namespace,
      query: 'ExecutionStatus = "Running"',
      pageSize: 100,
      ...(nextPageToken ? { nextPageToken } : {}),
    });
    for (const { execution } of page.executions ?? []) {
      const workflowId = execution?.workflowId;
      if (!workflowId) continue;
      if (workflowsScanned >= limit) {
        truncated = true;
        break scan;
      }
      workflowsScanned++;
      const found: Found = { keyIds: new Set(), unbound: false };
      keyIdsIn(
        await client.workflow.getHandle(workflowId, execution?.runId ?? undefined).fetchHistory(),
        found,
      );
      for (const id of found.keyIds) entry(id).workflows.push(workflowId);
      if (found.unbound) unbound.workflows.push(workflowId);
    }
    nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
  } while (nextPageToken);
  let schedulesScanned = 0;
  for await (const s of client.schedule.list()) {
    schedulesScanned++;
    const found: Found = { keyIds: new Set(), unbound: false };
    keyIdsIn(await client.workflowService.describeSchedule({ namespace, scheduleId: s.scheduleId }), found);
    for (const id of found.keyIds) entry(id).schedules.push(s.scheduleId);
    if (found.unbound) unbound.schedules.push(s.scheduleId);
  }
  return { usage: [...byKey.values()], workflowsScanned, schedulesScanned, truncated, unbound };
}
