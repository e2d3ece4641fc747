/**
 * The codec server process as `npm start` runs it (`node --import tsx src/codec/main.ts`), fed
 * every kind of malformed request a web page or a local user can send: each one gets a 4xx/5xx
 * answer (or the connection is closed by Node's HTTP parser), and the process keeps serving and
 * still decodes a real payload afterwards.
 */
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EncryptionCodec } from '../../src/codec/payload-codec.js';
import { type Started, started, tsx } from '../support/child.js';

const k1 = { id: 'k1', key: randomBytes(32) };
const TOKEN = randomBytes(32).toString('hex');
const UI = 'http://localhost:8233';

const asJson = (p: Payload) => ({
  metadata: Object.fromEntries(
    Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? []).toString('base64')]),
  ),
  data: Buffer.from(p.data ?? []).toString('base64'),
});

/** Sends raw bytes, returns what came back (status line first) once the server closes or answers. */
function raw(port: number, bytes: string | Buffer): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    const done = () => {
      socket.destroy();
      resolve(answer);
    };
    socket.on('data', (d) => {
      answer += d.toString('latin1');
      // One response is enough: the server may keep the connection open.
      if (/\r\n\r\n/.test(answer)) setTimeout(done, 50);
    });
    socket.on('error', done);
    socket.on('close', done);
    socket.setTimeout(10_000, done);
    socket.end(bytes);
  });
}

describe('codec server process under hostile input', () => {
  let child: Started;
  let port = 0;

  beforeAll(async () => {
    child = started(tsx(['src/codec/main.ts']), {
      env: {
        PATH: process.env.PATH ?? '',
        CODEC_SERVER_TOKEN: TOKEN,
        CODEC_SERVER_PORT: '0',
        CODEC_CORS_ORIGINS: UI,
        TEMPORAL_CODEC_KEYS: `k1:${k1.key.toString('base64')}`,
      },
    });
    await child.waitFor(/"url":"http:[^"]+:(\d+)"/);
    port = Number(/"url":"http:[^"]+:(\d+)"/.exec(child.output())?.[1]);
    expect(port, child.output()).toBeGreaterThan(0);
  });
  afterAll(async () => child?.stop());

  it('answers every malformed request with 4xx/5xx and keeps running', async () => {
    const body = JSON.stringify({ payloads: [asJson(defaultPayloadConverter.toPayload('x'))] });
    const post = (target: string, headers: string, payload = body) =>
      `POST ${target} HTTP/1.1\r\nHost: localhost:${port}\r\nContent-Type: application/json\r\n${headers}Content-Length: ${Buffer.byteLength(payload)}\r\n\r\n${payload}`;
    const auth = `Authorization: Bearer ${TOKEN}\r\n`;
    const hostile: [string, string | Buffer][] = [
      ['bad percent-encoding in the token path', post('/t/%E0%A4%A/decode', '')],
      ['lone percent in the token path', post('/t/%/decode', '')],
      ['percent-encoded NUL in the path', post('/t/%00/decode', '')],
      ['absolute-form target with a broken host', post('http://[::1/decode', auth)],
      ['absolute-form target to another host', post('http://evil.example/decode', auth)],
      ['asterisk target', post('*', auth)],
      ['empty-ish target', post('//', auth)],
      ['very long path', post(`/${'a'.repeat(60_000)}`, auth)],
      ['garbage request line', 'GARBAGE\r\n\r\n'],
      ['binary request line', Buffer.from([0x00, 0xff, 0x13, 0x37, 0x0d, 0x0a, 0x0d, 0x0a])],
      ['request line without version', 'POST /decode\r\n\r\n'],
      ['HTTP/9.9', `POST /decode HTTP/9.9\r\nHost: x\r\n\r\n`],
      ['header without colon', `POST /decode HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n`],
      ['header with a control character', `POST /decode HTTP/1.1\r\nHost: x\r\nX-Namespace: a\x01b\r\n\r\n`],
      ['negative Content-Length', `POST /decode HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: -5\r\n\r\n`],
      [
        'non-numeric Content-Length',
        `POST /decode HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: abc\r\n\r\n`,
      ],
      [
        'two different Content-Lengths',
        `POST /decode HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}`,
      ],
      [
        'Content-Length and chunked together',
        `POST /decode HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
      ],
      [
        'broken chunked body',
        `POST /decode HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nxx\r\n`,
      ],
      [
        'declared body larger than the limit',
        `POST /decode HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: 999999999999\r\n\r\n{`,
      ],
      [
        'chunked body past the 8 MiB limit',
        `POST /decode HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${`100000\r\n${'a'.repeat(0x100000)}\r\n`.repeat(9)}0\r\n\r\n`,
      ],
      ['body shorter than declared (client hangs up)', post('/decode', auth).replace(/\}\]\}$/, '')],
      ['payload JSON that is not JSON', post('/decode', auth, '{"payloads":[')],
      ['payload JSON with a prototype key', post('/decode', auth, '{"__proto__":{"payloads":[]}}')],
      [
        'payload JSON nested 100,000 levels',
        post('/decode', auth, `${'['.repeat(100_000)}${']'.repeat(100_000)}`),
      ],
      [
        'payload with invalid UTF-8',
        post('/decode', auth, Buffer.from([0x7b, 0xff, 0xfe, 0x7d]).toString('latin1')),
      ],
      [
        'encrypted payload with garbage inside',
        post(
          '/decode',
          auth,
          JSON.stringify({
            payloads: [
              {
                metadata: {
                  encoding: Buffer.from('binary/encrypted').toString('base64'),
                  'encryption-key-id': Buffer.from('k1').toString('base64'),
                },
                data: randomBytes(64).toString('base64'),
              },
            ],
          }),
        ),
      ],
      ['wrong content type', post('/decode', auth).replace('application/json', 'text/plain')],
      ['Authorization with a huge token', post('/decode', `Authorization: Bearer ${'x'.repeat(30_000)}\r\n`)],
      ['GET', `GET /decode HTTP/1.1\r\nHost: x\r\n\r\n`],
      ['DELETE with the token path', `DELETE /t/${TOKEN}/decode HTTP/1.1\r\nHost: x\r\n\r\n`],
      ['unknown method', `BREW /decode HTTP/1.1\r\nHost: x\r\n\r\n`],
      ['CONNECT', `CONNECT localhost:1 HTTP/1.1\r\nHost: x\r\n\r\n`],
      [
        'upgrade to websocket',
        `GET /decode HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`,
      ],
      ['OPTIONS with a bad path', `OPTIONS /%zz/x% HTTP/1.1\r\nHost: x\r\nOrigin: ${UI}\r\n\r\n`],
      ['foreign Origin with a valid token', post('/decode', `${auth}Origin: http://evil.example\r\n`)],
      ['Origin "null" with a valid token', post('/decode', `${auth}Origin: null\r\n`)],
    ];
    for (const [name, request] of hostile) {
      const answer = await raw(port, request);
      expect(child.running(), `${name}: the process exited\n${child.output()}`).toBe(true);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0);
      // Node's parser may close a connection it cannot parse without an answer; anything it
      // answers must be an error.
      if (answer) expect(status, `${name}: ${answer.slice(0, 200)}`).toBeGreaterThanOrEqual(400);
    }
    // Some aborts surface after the answer: give them time to crash the process if they can.
    await new Promise((r) => setTimeout(r, 500));
    expect(child.running(), child.output()).toBe(true);
  });

  it('refuses to encode (the token is readable from the Web UI) and caps the payloads per request', async () => {
    const plain = asJson(defaultPayloadConverter.toPayload({ plantId: 'plant-1' }));
    const headers = { 'Content-Type': 'application/json', Authorization: `Bearer ${TOKEN}` };
    // An encoder would turn any deprovisionPlant input into one the worker runs.
    const encode = await fetch(`http://127.0.0.1:${port}/t/${TOKEN}/encode`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ payloads: [plain] }),
    });
    expect(encode.status).toBe(403);
    expect(((await encode.json()) as { error: string }).error).toMatch(/CODEC_SERVER_ALLOW_ENCODE/);
    // 2.7 million `{}` fit in 8 MiB; each request is bounded in payloads, not only in bytes.
    const many = await fetch(`http://127.0.0.1:${port}/decode`, {
      method: 'POST',
      headers,
      body: `{"payloads":[${Array(10_001).fill('{}').join(',')}]}`,
    });
    expect(many.status).toBe(413);
    expect(((await many.json()) as { error: string }).error).toMatch(/at most 10000/);
    const enough = await fetch(`http://127.0.0.1:${port}/decode`, {
      method: 'POST',
      headers,
      body: `{"payloads":[${Array(10_000).fill('{}').join(',')}]}`,
    });
    expect(enough.status).toBe(200);
  });

  it('still decodes a real payload afterwards', async () => {
    const [encoded] = await new EncryptionCodec([k1]).encode([defaultPayloadConverter.toPayload('hello')]);
    const res = await fetch(`http://127.0.0.1:${port}/t/${TOKEN}/decode`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Origin: UI },
      body: JSON.stringify({ payloads: [asJson(encoded as Payload)] }),
    });
    expect(res.status).toBe(200);
    const { payloads } = (await res.json()) as { payloads: ReturnType<typeof asJson>[] };
    const [decoded] = payloads.map((p) => ({
      metadata: Object.fromEntries(Object.entries(p.metadata).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
      data: Buffer.from(p.data, 'base64'),
    }));
    expect(defaultPayloadConverter.fromPayload(decoded as Payload)).toBe('hello');
    expect(child.output()).not.toContain(TOKEN);
  });
});
