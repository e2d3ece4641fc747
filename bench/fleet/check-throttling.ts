/**
 * `npx tsx bench/fleet/check-throttling.ts`: what the AWS SDK makes of the quota proxy's refusal,
 * and that the proxy names the quota-bound operations the SDK sends. No moto needed: a stub
 * upstream answers `{}` to whatever gets through. Exits non-zero on any mismatch.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  AttachPolicyCommand,
  AttachThingPrincipalCommand,
  CreatePolicyCommand,
  CreateThingCommand,
  DeleteCertificateCommand,
  DeletePolicyCommand,
  DescribeThingCommand,
  DetachPolicyCommand,
  IoTClient,
  UpdateCertificateCommand,
} from '@aws-sdk/client-iot';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { startQuotaProxy } from '../../tools/faults/quota-proxy.js';

const seen: string[] = [];
const stub = createServer((req, res) => {
  seen.push(`${req.method} ${req.url}`);
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(req.headers.authorization?.includes('/sqs/') ? '{"QueueUrl":"http://q/1"}' : '{}');
  });
});
await new Promise<void>((r) => stub.listen(0, '127.0.0.1', () => r()));
const upstream = `http://127.0.0.1:${(stub.address() as AddressInfo).port}`;
// One token each, refilled once in ~17 minutes: the first call of each passes, the second is refused.
const ops = [
  'CreateThing',
  'AttachThingPrincipal',
  'CreatePolicy',
  'AttachPolicy',
  'DetachPolicy',
  'DeletePolicy',
  'UpdateCertificate',
  'DeleteCertificate',
];
const proxy = await startQuotaProxy({ upstream, quotas: Object.fromEntries(ops.map((o) => [o, 0.001])) });
const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };
const iot = new IoTClient({ region: 'us-east-1', endpoint: proxy.endpoint, credentials, maxAttempts: 1 });
const sqs = new SQSClient({ region: 'us-east-1', endpoint: proxy.endpoint, credentials, maxAttempts: 1 });
const calls = {
  CreateThing: () => new CreateThingCommand({ thingName: 'plant-1' }),
  AttachThingPrincipal: () => new AttachThingPrincipalCommand({ thingName: 'plant-1', principal: 'arn:x' }),
  CreatePolicy: () => new CreatePolicyCommand({ policyName: 'p', policyDocument: '{}' }),
  AttachPolicy: () => new AttachPolicyCommand({ policyName: 'p', target: 'arn:x' }),
  DetachPolicy: () => new DetachPolicyCommand({ policyName: 'p', target: 'arn:x' }),
  DeletePolicy: () => new DeletePolicyCommand({ policyName: 'p' }),
  UpdateCertificate: () => new UpdateCertificateCommand({ certificateId: 'abc', newStatus: 'INACTIVE' }),
  DeleteCertificate: () => new DeleteCertificateCommand({ certificateId: 'abc' }),
} as const;
let failures = 0;
for (const op of ops) {
  // biome-ignore lint/suspicious/noExplicitAny: one command of each kind
  const make = calls[op as keyof typeof calls] as () => any;
  const first = await iot.send(make()).then(
    () => 'ok',
    (e: Error) => `${e.name}: ${e.message}`,
  );
  let second = '';
  try {
    await iot.send(make());
    second = 'ok (not refused!)';
  } catch (e) {
    const err = e as Error & { $metadata?: { httpStatusCode?: number }; $retryable?: unknown; $fault?: string };
    second = `${err.name} "${err.message}" status ${err.$metadata?.httpStatusCode} $fault ${err.$fault} $retryable ${JSON.stringify(err.$retryable)}`;
    if (err.name !== 'ThrottlingException' || err.$metadata?.httpStatusCode !== 429) failures += 1;
  }
  if (first !== 'ok') failures += 1;
  console.log(`${op.padEnd(20)} first: ${first}; second: ${second}`);
}
await iot.send(new DescribeThingCommand({ thingName: 'plant-1' }));
await sqs.send(new CreateQueueCommand({ QueueName: 'q' }));
const s = proxy.snapshot();
console.log('calls', JSON.stringify(s.calls));
console.log('refused', JSON.stringify(s.injected));
console.log('forwarded untouched', JSON.stringify(s.other), '; upstream saw', seen.length, 'requests');
for (const op of ops) if (s.calls[op] !== 2 || s.injected[op]?.quota !== 1) failures += 1;
if (s.calls.DescribeThing !== 1 || s.other.sqs !== 1) failures += 1;
iot.destroy();
sqs.destroy();
await proxy.close();
stub.close();
console.log(failures ? `${failures} MISMATCHES` : 'all as expected');
process.exit(failures ? 1 : 0);
