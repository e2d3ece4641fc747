/**
 * What renders and validates deploy/k8s without a cluster and without downloading anything at run
 * time (test/foundation/kubernetes.test.ts), cached by version like the other tools (tools.ts):
 *
 *   kustomize-<v>/kustomize                 `go install sigs.k8s.io/kustomize/kustomize/v5@v<v>`
 *                                           (~1 CPU-minute on a fresh machine, then cached)
 *   kubernetes-validate-<v>/bin/...         PyPI, in a venv: the Kubernetes API's JSON schemas of
 *                                           each release, strict variants included (unknown fields)
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  cacheRoot,
  defaultLog,
  ensureVenvTool,
  goInstallEnv,
  type Log,
  run,
  TOOL_VERSIONS,
  ToolError,
  which,
  withLock,
} from './tool-cache.js';

export function kustomizePath(): string {
  return join(cacheRoot(), `kustomize-${TOOL_VERSIONS.kustomize}`, 'kustomize');
}

export async function ensureKustomize(log: Log = defaultLog): Promise<string> {
  const bin = kustomizePath();
  const marker = `${bin}.ok`;
  if (existsSync(marker) && existsSync(bin)) return bin;
  const go = which('go');
  if (!go)
    throw new ToolError(
      `kustomize v${TOOL_VERSIONS.kustomize} missing and Go not found: install Go 1.25+ (Debian: apt-get install golang)`,
    );
  const module = `sigs.k8s.io/kustomize/kustomize/v5@v${TOOL_VERSIONS.kustomize}`;
  return await withLock(`kustomize-${TOOL_VERSIONS.kustomize}`, log, async () => {
    if (existsSync(marker) && existsSync(bin)) return bin;
    const logFile = join(cacheRoot(), 'logs', `kustomize-${TOOL_VERSIONS.kustomize}.log`);
    log(`building kustomize v${TOOL_VERSIONS.kustomize} with go (once per machine; log: ${logFile})`);
    await run(go, ['install', module], {
      env: goInstallEnv(join(cacheRoot(), `kustomize-${TOOL_VERSIONS.kustomize}`)),
      logFile,
      what: `go install ${module}`,
    });
    if (!existsSync(bin)) throw new ToolError(`go install finished but ${bin} is missing; see ${logFile}`);
    await writeFile(marker, `${new Date().toISOString()}\n`);
    return bin;
  });
}

export async function ensureKubernetesValidate(log: Log = defaultLog): Promise<string> {
  return await ensureVenvTool(
    {
      name: `kubernetes-validate-${TOOL_VERSIONS.kubernetesValidate}`,
      requirement: `kubernetes-validate==${TOOL_VERSIONS.kubernetesValidate}`,
      bin: 'kubernetes-validate',
      withoutPython:
        'python3 not found: install Python 3.9+ with venv (Debian: apt-get install python3 python3-venv)',
    },
    log,
  );
}
