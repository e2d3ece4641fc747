/** Ingest consumers as real processes for the chaos tests, and what they and SQS tell about progress. */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { freePort, ManagedProcess } from '../../tools/stack/processes.js';
import type { ChaosStack } from './chaos-stack.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Messages in the queue, visible or in flight. */
export async function queueDepth(sqs: SQSClient, queueUrl: string): Promise<number> {
  const { Attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return (
    Number(Attributes.ApproximateNumberOfMessages ?? 0) +
    Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0)
  );
}

/** A consumer's Prometheus text. */
export async function scrape(port: number): Promise<string> {
  return fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5000) }).then((r) =>
    r.text(),
  );
}

/** The sum of one metric's series in Prometheus text (optionally those whose labels contain `label`). */
export function metric(text: string, name: string, label = ''): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || !/^[a-z_]+(\{[^}]*\})? /.test(line)) continue;
    const [series, value] = line.split(' ');
    if (series?.replace(/\{.*/, '') === name && series.includes(label)) sum += Number(value);
  }
  return sum;
}

/** One `tsx src/ingest/main.ts` on the stack's queue, its metrics on a free loopback port. */
export class IngestProcess {
  private constructor(
    readonly proc: ManagedProcess,
    readonly metricsPort: number,
  ) {}

  static async start(
    stack: ChaosStack,
    name: string,
    env: Record<string, string> = {},
  ): Promise<IngestProcess> {
    const metricsPort = await freePort();
    const proc = ManagedProcess.start({
      name,
      command: join(ROOT, 'node_modules', '.bin', 'tsx'),
      args: ['src/ingest/main.ts'],
      cwd: ROOT,
      env: stack.env({ METRICS_PORT: String(metricsPort), ...env }),
      output: join(stack.workDir, `${name}.log`),
      stopTimeoutMs: 60_000,
    });
    return new IngestProcess(proc, metricsPort);
  }

  get running(): boolean {
    return this.proc.running;
  }

  metrics(): Promise<string> {
    return scrape(this.metricsPort);
  }

  /** SIGKILL to the whole process group: what it received and did not delete goes back to SQS. */
  async kill(): Promise<void> {
    await this.proc.kill();
  }

  async stop(): Promise<void> {
    await this.proc.stop();
  }
}
