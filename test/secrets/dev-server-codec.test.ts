/**
 * The Temporal dev server `npm start` runs (tools/stack/components.ts) gets its Web UI's codec
 * endpoint, whose URL carries the codec server's token, without the token on its command line
 * (/proc/<pid>/cmdline is readable by every local user, `ps` shows it), and its Web UI still
 * hands that endpoint to the browser so payloads are decoded.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTemporalDevServer, type TemporalDevServer } from '../../tools/stack/components.js';
import { freePort } from '../../tools/stack/processes.js';
import { ensureTools } from '../../tools/stack/tools.js';

const TOKEN = randomBytes(32).toString('hex');
const ENDPOINT = `http://localhost:8234/t/${TOKEN}`;

/**
 * A file's content, or undefined when it is not a regular file or is gone: the dev server's SQLite
 * creates and removes `temporal.db-journal` at any moment, also between readdir and the read.
 */
function contentIfStillThere(path: string): string | undefined {
  try {
    return statSync(path).isFile() ? readFileSync(path, 'latin1') : undefined;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** The command line of `pid` and of every descendant. */
function commandLines(pid: number): string[] {
  const lines = [readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ')];
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/);
  for (const child of children.filter(Boolean)) lines.push(...commandLines(Number(child)));
  return lines;
}

describe('dev server with the Web UI codec endpoint', () => {
  let dir: string;
  let server: TemporalDevServer;

  beforeAll(async () => {
    const tools = await ensureTools({ temporalCli: true });
    if (!tools.temporalCli) throw new Error('no Temporal CLI');
    dir = await mkdtemp(join(tmpdir(), 'solar-iot-devserver-'));
    await mkdir(join(dir, 'logs'));
    server = await startTemporalDevServer({
      tool: tools.temporalCli,
      port: await freePort(),
      uiPort: await freePort(),
      logFile: join(dir, 'logs', 'temporal.log'),
      dbFile: join(dir, 'temporal', 'temporal.db'),
      uiCodecEndpoint: ENDPOINT,
    });
  });
  afterAll(async () => {
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('keeps the codec token off the command line', () => {
    expect(server.pid).toBeGreaterThan(0);
    const lines = commandLines(server.pid as number);
    expect(lines.join('\n')).toContain('start-dev');
    for (const line of lines) expect(line).not.toContain(TOKEN);
  });

  it('still gives the Web UI the codec endpoint, from a file only the owner reads', async () => {
    const settings = (await (await fetch(`${server.uiUrl}/api/v1/settings`)).json()) as {
      Codec?: { Endpoint?: string };
    };
    expect(settings.Codec?.Endpoint).toBe(ENDPOINT);
    const files = (await readdir(dir, { recursive: true })).map((f) => join(dir, String(f)));
    const holders = files.filter((f) => contentIfStillThere(f)?.includes(TOKEN));
    expect(holders.length).toBe(1);
    for (const f of holders) expect(statSync(f).mode & 0o077, f).toBe(0);
  });
});
