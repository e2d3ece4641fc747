/**
 * The Node.js the suite runs on is one package.json supports (22 or 24; CI uses 24 from
 * tools/stack/ensure-node.sh), and there the AWS SDK needs no warning suppression: nothing in the
 * project sets AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED any more.
 */
import { spawnSync } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
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

  it("keeps the npm settings of the machine (global npmrc: cafile, proxy, registry) with ensure-node.sh's node first on PATH", () => {
    // npm reads its global npmrc from <prefix>/etc/npmrc, the prefix taken from the node running it:
    // with the cached node first on PATH that is the cache folder, and a machine's cafile was gone
    // (npm install: SELF_SIGNED_CERT_IN_CHAIN behind a TLS-inspecting proxy).
    const cache = mkdtempSync(join(tmpdir(), 'solar-iot-ensure-node-'));
    try {
      const version = '24.0.0-test';
      const bin = join(cache, `node-${version}-linux-x64`, 'bin');
      mkdirSync(bin, { recursive: true });
      symlinkSync(process.execPath, join(bin, 'node')); // cached already: nothing is fetched
      const machineNpmrc = join(cache, 'machine-npmrc');
      writeFileSync(machineNpmrc, 'cafile=/etc/ssl/certs/ca-certificates.crt\n');
      const run = spawnSync('tools/stack/ensure-node.sh', {
        env: {
          ...process.env,
          SOLAR_IOT_CACHE_DIR: cache,
          SOLAR_IOT_NODE_VERSION: version,
          npm_config_globalconfig: machineNpmrc,
          PATH: `${dirname(process.execPath)}:${process.env.PATH}`,
        },
        encoding: 'utf8',
      });
      expect(run.status, run.stderr).toBe(0);
      expect(run.stdout.trim()).toBe(bin);
      expect(readlinkSync(join(cache, `node-${version}-linux-x64`, 'etc', 'npmrc'))).toBe(machineNpmrc);
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  });
});
