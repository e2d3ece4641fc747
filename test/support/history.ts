import type { WorkflowHandle } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';

/**
 * A workflow's history as Temporal stores it, with every payload decoded to text, so a test can
 * search inputs, results, failures and heartbeats for something that must never be there.
 */
export async function decodedHistoryText(handle: WorkflowHandle): Promise<string> {
  const json = historyToJSON(await handle.fetchHistory());
  const payloads = [...json.matchAll(/"data":\s*"([A-Za-z0-9+/=]+)"/g)].map((m) =>
    Buffer.from(m[1] ?? '', 'base64').toString('utf8'),
  );
  return `${json}\n${payloads.join('\n')}`;
}
