/**
 * The Node.js the suite runs on is one package.json supports (22 or 24; CI uses 24 from
 * tools/stack/ensure-node.sh), and there the AWS SDK needs no warning suppression: nothing in the
 * project sets AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED any more.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  engines: { node: string };
};

describe('Node.js version', () => {
  it('is one that package.json engines allow', () => {
    expect(pkg.engines.node).toBe('>=22');
    expect(Number(process.versions.node.split('.')[0])).toBeGreaterThanOrEqual(22);
  });

  it('gets no version warning from the AWS SDK, without suppressing it', () => {
    const env = { ...process.env };
    delete env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED;
    // The SDK checks the version when a client is constructed and warns on stderr.
    const script = `
      const { IoTClient } = await import('@aws-sdk/client-iot');
      const { SQSClient } = await import('@aws-sdk/client-sqs');
      new IoTClient({ region: 'us-east-1' });
      new SQSClient({ region: 'us-east-1' });
      console.log('constructed');`;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      env,
      encoding: 'utf8',
    });
    expect(run.stderr).not.toMatch(/NodeVersionSupportWarning/);
    expect(run.stderr).toBe('');
    expect(run.stdout.trim()).toBe('constructed');
  });
});
