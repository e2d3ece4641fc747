/**
 * The CLI against an API that is not the solar-iot API it expects, or a token that cannot be
 * sent: fault injection through a plain HTTP server (a proxy's error page, an endless answer, a
 * host reached over plain http). The real API is test/cli/cli.test.ts.
 */

import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_ANSWER_BYTES } from '../../src/api-client/client.js';
import { EXIT } from '../../src/cli/io.js';
import { runCli } from '../support/cli.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

let handler: Handler = (_req, res) => res.end('{}');
const seen: IncomingMessage[] = [];
let server: Server;
let base: string;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'solar-iot-hostile-'));
  server = createServer((req, res) => {
    seen.push(req);
    handler(req, res);
  });
  // On every interface: the plain-http test reaches it on a non-loopback address.
  await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

const cli = (argv: string[], env: Record<string, string | undefined>) =>
  runCli(argv, { SOLAR_IOT_DATA_DIR: dir, SOLAR_IOT_API_URL: base, ...env });

describe('solar-iot with a token an HTTP header cannot carry', () => {
  it('names the variable, never prints the token, sends nothing', async () => {
    // E.g. SOLAR_IOT_API_TOKEN_FILE pointed at the wrong file (/etc/shadow): its lines were echoed.
    const file = join(dir, 'two-lines');
    await writeFile(file, 'first-line-SECRET-0123456789\nsecond-line-SECRET-0123456789\n');
    await chmod(file, 0o600);
    const before = seen.length;
    for (const [variable, env] of [
      ['SOLAR_IOT_API_TOKEN_FILE', { SOLAR_IOT_API_TOKEN_FILE: file }],
      ['SOLAR_IOT_API_TOKEN', { SOLAR_IOT_API_TOKEN: 'first-line-SECRET-0123456789\nsecond' }],
      ['SOLAR_IOT_API_TOKEN', { SOLAR_IOT_API_TOKEN: 'has a SECRET space-0123456789' }],
    ] as const) {
      for (const json of [[], ['--json']]) {
        const ran = await cli([...json, 'status', 'p-1'], env);
        expect(ran.code, variable).toBe(EXIT.usage);
        expect(ran.stderr, variable).toContain(variable);
        expect(ran.stderr, variable).not.toContain('SECRET');
        if (json.length) expect(JSON.parse(ran.stderr).error.code).toBe('configuration_error');
      }
    }
    expect(seen.length).toBe(before);
  });
});

describe('SOLAR_IOT_API_TOKEN_FILE is read as a private file (src/secrets/private-file.ts)', () => {
  const TOKEN_IN_FILE = 'file-token-SECRET-0123456789abcdef';

  /** The CLI's start-up with SOLAR_IOT_API_TOKEN_FILE=`file`: refused naming the variable, nothing sent. */
  async function refused(file: string, problem: RegExp) {
    const before = seen.length;
    for (const json of [[], ['--json']]) {
      const ran = await cli([...json, 'status', 'p-1'], { SOLAR_IOT_API_TOKEN_FILE: file });
      expect(ran.code, ran.stderr).toBe(EXIT.usage);
      expect(ran.stderr).toContain(`SOLAR_IOT_API_TOKEN_FILE: ${file}`);
      expect(ran.stderr).toMatch(problem);
      expect(ran.stderr).not.toContain('SECRET');
      if (json.length) expect(JSON.parse(ran.stderr).error.code).toBe('configuration_error');
    }
    expect(seen.length, 'a request was sent with the token').toBe(before);
  }

  it.each(['644', '640', '604'])('refuses a token file others can read (mode %s)', async (mode) => {
    const file = join(dir, `readable-${mode}.token`);
    await writeFile(file, `${TOKEN_IN_FILE}\n`);
    await chmod(file, Number.parseInt(mode, 8));
    await refused(file, /readable by other users.*chmod 600/);
  });

  it('refuses a symbolic link, a folder and a file too large to be a token', async () => {
    const target = join(dir, 'target.token');
    await writeFile(target, `${TOKEN_IN_FILE}\n`, { mode: 0o600 });
    const link = join(dir, 'link.token');
    await symlink(target, link);
    await refused(link, /symbolic link/);

    const folder = join(dir, 'a-folder');
    await mkdir(folder, { mode: 0o700 });
    await refused(folder, /not a regular file/);

    const large = join(dir, 'large.token');
    await writeFile(large, `${TOKEN_IN_FILE}${'x'.repeat(1024 * 1024)}\n`, { mode: 0o600 });
    await refused(large, /bytes/);
  });

  it('takes a 0600 file of its own', async () => {
    const file = join(dir, 'private.token');
    await writeFile(file, `${TOKEN_IN_FILE}\n`, { mode: 0o600 });
    await chmod(file, 0o600);
    let authorization: string | undefined;
    handler = (req, res) => {
      authorization = req.headers.authorization;
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'plant_not_found', message: 'no such plant' } }));
    };
    const ran = await cli(['status', 'p-1'], { SOLAR_IOT_API_TOKEN_FILE: file });
    expect(ran.code, ran.stderr).toBe(EXIT.notFound);
    expect(authorization).toBe(`Bearer ${TOKEN_IN_FILE}`);
  });
});

describe('solar-iot against an answer that is not the API', () => {
  it("names the status and the URL of a proxy's error page, in JSON too", async () => {
    handler = (_req, res) => {
      res.writeHead(502, { 'content-type': 'text/html' });
      res.end('<html><body>502 Bad Gateway</body></html>');
    };
    const human = await cli(['status', 'p-1'], { SOLAR_IOT_API_TOKEN: 'a'.repeat(32) });
    expect(human.code).toBe(EXIT.failure);
    expect(human.stderr).toContain(`The API at ${base} answered 502`);
    expect(human.stderr).toMatch(/not JSON.*SOLAR_IOT_API_URL/);
    const json = await cli(['--json', 'status', 'p-1'], { SOLAR_IOT_API_TOKEN: 'a'.repeat(32) });
    expect(json.code).toBe(EXIT.failure);
    expect(JSON.parse(json.stderr).error.code).toBe('api_bad_answer');
  });

  it('stops reading an endless answer at its size limit', async () => {
    let sent = 0;
    let closed!: () => void;
    const gone = new Promise<void>((resolve) => {
      closed = resolve;
    });
    handler = (req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"items":["');
      const chunk = 'x'.repeat(1 << 20);
      const more = () => {
        while (!res.destroyed && sent < 4 * MAX_ANSWER_BYTES) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', more);
        }
        res.end('"]}');
      };
      req.socket.once('close', closed);
      more();
    };
    const ran = await cli(['--json', 'plants', 'list'], { SOLAR_IOT_API_TOKEN: 'a'.repeat(32) });
    await gone;
    expect(ran.code).toBe(EXIT.failure);
    expect(JSON.parse(ran.stderr).error).toMatchObject({ code: 'api_bad_answer' });
    expect(JSON.parse(ran.stderr).error.message).toContain(`more than ${MAX_ANSWER_BYTES} bytes`);
    // The client hung up once past the limit (socket buffers let a few more MiB through).
    expect(sent).toBeLessThan(2 * MAX_ANSWER_BYTES);
  });
});

describe('solar-iot over plain http to another host', () => {
  it('warns that the token crosses the network readable, and still calls (JSON on stderr with --json)', async () => {
    const address = Object.values(networkInterfaces())
      .flat()
      .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
    expect(address, 'this test needs a non-loopback IPv4 interface').toBeDefined();
    const url = `http://${address}:${(server.address() as AddressInfo).port}`;
    handler = (_req, res) => {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'plant_not_found', message: 'Plant p-1 not found' } }));
    };
    const human = await cli(['status', 'p-1'], {
      SOLAR_IOT_API_URL: url,
      SOLAR_IOT_API_TOKEN: 'a'.repeat(32),
    });
    expect(human.code).toBe(EXIT.notFound);
    expect(human.stderr).toMatch(/^warning: .*plain http.*https/m);
    const json = await cli(['--json', 'status', 'p-1'], {
      SOLAR_IOT_API_URL: url,
      SOLAR_IOT_API_TOKEN: 'a'.repeat(32),
    });
    const lines = json.stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines[0].warning.code).toBe('token_over_plain_http');
    expect(lines[1].error.code).toBe('plant_not_found');
    // No warning on loopback, or without a token.
    for (const env of [
      { SOLAR_IOT_API_TOKEN: 'a'.repeat(32) },
      { SOLAR_IOT_API_URL: url, SOLAR_IOT_API_TOKEN: undefined },
    ]) {
      const quiet = await cli(['status', 'p-1'], env);
      expect(quiet.stderr).not.toMatch(/warning/);
    }
  });
});
