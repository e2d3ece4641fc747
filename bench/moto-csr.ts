/**
 * `npm run bench:moto-csr`: moto's CPU per IoT CreateCertificateFromCsr, plain moto_server (from
 * the venv of tools/stack/tools.ts) against moto run through tools/stack/moto_server_patched.py, whose
 * IoT patch certifies the CSR's key with one CA key instead of generating an RSA-2048 key per
 * certificate. Both servers run at once on free ports; the requests alternate between them in
 * rounds (one request at a time), so both see the same machine load. CPU is the moto process'
 * utime + stime from /proc/<pid>/stat, read around the measured requests (start-up and a few
 * warm-up requests excluded). Prints a table; does not write bench/results.md.
 * Environment: BENCH_CERTS (default 100 per server), BENCH_ROUNDS (default 4).
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateCertificateFromCsrCommand, IoTClient } from '@aws-sdk/client-iot';
import Table from 'cli-table3';
import {
  csrFor,
  generateDeviceKey,
  publicKeyFingerprintOfCertificate,
  publicKeyFingerprintOfKey,
} from '../src/iot/device-keys.js';
import { MOTO_CREDENTIALS } from '../tools/stack/components.js';
import { freePort, ManagedProcess, waitForTcp, waitUntilReady } from '../tools/stack/processes.js';
import { ensureMoto } from '../tools/stack/tools.js';
import { cpuSecondsOf, int, log, machine, percentile, TICKS_PER_SECOND } from './stack.js';

const CERTS = int('BENCH_CERTS', 100);
const ROUNDS = int('BENCH_ROUNDS', 4);
const WARM_UP = 5;
const PATCH = fileURLToPath(new URL('../tools/stack/moto_server_patched.py', import.meta.url));

type Kind = 'plain moto_server' | 'moto_server_patched.py';

interface Server {
  kind: Kind;
  proc: ManagedProcess;
  iot: IoTClient;
  cpuSeconds: number;
  latenciesMs: number[];
  keyMatches: number;
}

async function start(kind: Kind, bin: string, logDir: string): Promise<Server> {
  const port = await freePort();
  const python = join(dirname(bin), 'python');
  const logFile = join(logDir, `${kind === 'plain moto_server' ? 'plain' : 'patched'}.log`);
  const proc = ManagedProcess.start({
    name: kind,
    command: kind === 'plain moto_server' ? bin : python,
    args: [...(kind === 'plain moto_server' ? [] : [PATCH]), '-H', '127.0.0.1', '-p', String(port)],
    output: logFile,
    stopTimeoutMs: 5000,
  });
  const endpoint = `http://127.0.0.1:${port}`;
  await waitUntilReady(
    proc,
    async () => {
      if (!(await waitForTcp(port, 200))) throw new Error('port closed');
      const res = await fetch(`${endpoint}/moto-api/data.json`, { signal: AbortSignal.timeout(2000) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
    },
    60_000,
  );
  const patchedLine = readFileSync(logFile, 'utf8').includes('IoT CreateCertificateFromCsr certifies');
  if (patchedLine !== (kind === 'moto_server_patched.py'))
    throw new Error(`${kind}: unexpected patch state in ${logFile}`);
  const iot = new IoTClient({ endpoint, region: 'us-east-1', credentials: MOTO_CREDENTIALS });
  return { kind, proc, iot, cpuSeconds: 0, latenciesMs: [], keyMatches: 0 };
}

interface Csr {
  pem: string;
  fingerprint: string;
}

async function issue(server: Server, csr: Csr, measured: boolean): Promise<void> {
  const t0 = performance.now();
  const out = await server.iot.send(
    new CreateCertificateFromCsrCommand({ certificateSigningRequest: csr.pem, setAsActive: true }),
  );
  const ms = performance.now() - t0;
  if (!out.certificatePem) throw new Error(`${server.kind} returned no certificate`);
  if (!measured) return;
  server.latenciesMs.push(ms);
  if (publicKeyFingerprintOfCertificate(out.certificatePem) === csr.fingerprint) server.keyMatches++;
}

async function main() {
  const bin = await ensureMoto(log);
  const logDir = await mkdtemp(join(tmpdir(), 'solar-iot-bench-moto-csr-'));
  const servers: Server[] = [];
  try {
    servers.push(await start('plain moto_server', bin, logDir));
    servers.push(await start('moto_server_patched.py', bin, logDir));
    const csrs: Csr[] = [];
    for (let i = 0; i < CERTS + WARM_UP; i++) {
      const key = generateDeviceKey();
      csrs.push({
        pem: await csrFor(key.privateKeyPem, `CN=bench-moto-csr-${i}, OU=solar-iot`),
        fingerprint: publicKeyFingerprintOfKey(key.privateKeyPem),
      });
    }
    for (const server of servers) for (const csr of csrs.slice(0, WARM_UP)) await issue(server, csr, false);
    const measured = csrs.slice(WARM_UP);
    const perRound = Math.ceil(CERTS / ROUNDS);
    for (let r = 0; r < ROUNDS; r++) {
      const batch = measured.slice(r * perRound, (r + 1) * perRound);
      // Alternate which server goes first, round by round.
      for (const server of r % 2 === 0 ? servers : [...servers].reverse()) {
        const pid = server.proc.pid as number;
        const before = cpuSecondsOf(pid);
        for (const csr of batch) await issue(server, csr, true);
        server.cpuSeconds += cpuSecondsOf(pid) - before;
      }
      log(`round ${r + 1}/${ROUNDS} done`);
    }

    const head = [
      'moto',
      'certificates',
      'moto CPU ms per certificate',
      'latency median ms',
      'latency p95 ms',
      'certificate key = CSR key',
    ];
    const table = new Table({ head });
    for (const s of servers) {
      const sorted = [...s.latenciesMs].sort((a, b) => a - b);
      table.push([
        s.kind,
        String(s.latenciesMs.length),
        ((s.cpuSeconds * 1000) / s.latenciesMs.length).toFixed(2),
        percentile(sorted, 50).toFixed(1),
        percentile(sorted, 95).toFixed(1),
        `${s.keyMatches}/${s.latenciesMs.length}`,
      ]);
    }
    const [plain, patched] = servers as [Server, Server];
    process.stdout.write(
      [
        'moto CPU per IoT CreateCertificateFromCsr (`npm run bench:moto-csr`)',
        `Machine: ${machine()}.`,
        table.toString(),
        `CPU ratio plain / patched: ${(plain.cpuSeconds / patched.cpuSeconds).toFixed(1)}x ` +
          `(CPU from /proc/<pid>/stat, ${1000 / TICKS_PER_SECOND} ms ticks: ` +
          `${(plain.cpuSeconds * 1000).toFixed(0)} ms and ${(patched.cpuSeconds * 1000).toFixed(0)} ms in all).`,
        '',
      ].join('\n'),
    );
  } finally {
    for (const s of servers) {
      s.iot.destroy();
      await s.proc.stop();
    }
    await rm(logDir, { recursive: true, force: true });
  }
}

await main();
