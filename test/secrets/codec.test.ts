import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Payload } from '@temporalio/common';
import { defaultPayloadConverter } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deriveCodecKeys, loadCodecKeys } from '../../src/codec/keys.js';
import {
  BINDING_METADATA,
  ENCODING,
  EncryptionCodec,
  KEY_ID_METADATA,
  PayloadCodecError,
} from '../../src/codec/payload-codec.js';
import { createCodecServer } from '../../src/codec/server.js';
import {
  parseCodecKeys,
  readAllowUnboundPayloads,
  readCodecServerSettings,
} from '../../src/codec/settings.js';
import { ConfigError } from '../../src/config/index.js';
import { started, tsx } from '../support/child.js';

const key = (id: string) => ({ id, key: randomBytes(32) });
const k1 = key('k1');
const k2 = key('k2');
const TOKEN = 't'.repeat(8) + randomBytes(24).toString('hex');
const UI = 'http://localhost:8233';

const payload = (value: unknown): Payload => defaultPayloadConverter.toPayload(value);
const meta = (p: Payload, k: string) => Buffer.from(p.metadata?.[k] ?? new Uint8Array()).toString();

describe('EncryptionCodec', () => {
  it('round-trips payloads and leaves ciphertext labelled with the key id', async () => {
    const codec = new EncryptionCodec([k1]);
    const original = [
      payload({ plantName: 'Sunny Acres' }),
      payload(null),
      payload(new Uint8Array([1, 2, 3])),
    ];
    const encoded = await codec.encode(original);
    for (const p of encoded) {
      expect(meta(p, 'encoding')).toBe(ENCODING);
      expect(meta(p, KEY_ID_METADATA)).toBe('k1');
      expect(Buffer.from(p.data ?? []).toString('latin1')).not.toContain('Sunny');
    }
    const decoded = await codec.decode(encoded);
    expect(decoded.map((p) => defaultPayloadConverter.fromPayload(p))).toEqual([
      { plantName: 'Sunny Acres' },
      null,
      new Uint8Array([1, 2, 3]),
    ]);
  });

  it('encrypts with the first key and decrypts with any configured one (rotation)', async () => {
    const old = await new EncryptionCodec([k1]).encode([payload('old')]);
    const rotated = new EncryptionCodec([k2, k1]);
    const fresh = await rotated.encode([payload('new')]);
    expect(meta(fresh[0] as Payload, KEY_ID_METADATA)).toBe('k2');
    const decoded = await rotated.decode([...old, ...fresh]);
    expect(decoded.map((p) => defaultPayloadConverter.fromPayload(p))).toEqual(['old', 'new']);
  });

  it('fails on an unknown key id with an error naming it', async () => {
    const [encoded] = await new EncryptionCodec([k1]).encode([payload('x')]);
    const other = new EncryptionCodec([k2]);
    const error = await other.decode([encoded as Payload]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PayloadCodecError);
    expect(error).toMatchObject({ keyId: 'k1', reason: 'UNKNOWN_KEY' });
    expect((error as Error).message).toMatch(/key id "k1".*not configured/);
  });

  it('detects any flipped byte and a relabelled key id, never returning garbage', async () => {
    const codec = new EncryptionCodec([k1, { id: 'k1-copy', key: k1.key }]);
    const [encoded] = await codec.encode([payload({ secret: 'value' })]);
    const data = Buffer.from(encoded?.data ?? []);
    for (const i of [0, 5, 12, data.length - 17, data.length - 1]) {
      const tampered = Buffer.from(data);
      tampered[i] = (tampered[i] ?? 0) ^ 0x01;
      await expect(codec.decode([{ ...encoded, data: tampered }])).rejects.toThrow(
        /key id "k1" failed authentication/,
      );
    }
    // Same key bytes under another id: the AAD binds the id, so relabelling is caught too.
    const relabelled = {
      ...encoded,
      metadata: { ...encoded?.metadata, [KEY_ID_METADATA]: Buffer.from('k1-copy') },
    };
    await expect(codec.decode([relabelled])).rejects.toThrow(/key id "k1-copy" failed authentication/);
    await expect(codec.decode([{ ...encoded, data: data.subarray(0, 10) }])).rejects.toThrow(/truncated/);
    const noId = { ...encoded, metadata: { encoding: Buffer.from(ENCODING) } };
    await expect(codec.decode([noId])).rejects.toThrow(/no encryption-key-id/);
  });

  it("the worker refuses plain payloads, except the server's own ACTIVITY_ID_NOT_STARTED cancellation details", async () => {
    const worker = new EncryptionCodec([k1], { refusePlain: true });
    // What the Temporal server writes into ActivityTaskCanceled for an activity no worker started.
    const marker = payload('ACTIVITY_ID_NOT_STARTED');
    expect(await worker.decode([marker])).toEqual([marker]);
    for (const plain of [
      payload({ plantId: 'p1' }),
      payload('ACTIVITY_ID_NOT_STARTED '),
      payload('activity_id_not_started'),
      { ...marker, metadata: { ...marker.metadata, extra: Buffer.from('x') } },
    ]) {
      await expect(worker.decode([plain])).rejects.toMatchObject({ reason: 'NOT_ENCRYPTED' });
    }
  });

  it('passes payloads that were never encrypted through unchanged (histories from before)', async () => {
    const plain = payload({ a: 1 });
    expect(await new EncryptionCodec([k1]).decode([plain])).toEqual([plain]);
  });
});

describe('payloads bound to their workflow', () => {
  const wf = (workflowId: string, namespace = 'default') => ({
    type: 'workflow' as const,
    namespace,
    workflowId,
  });
  const worker = (options: { allowUnbound?: boolean } = {}) =>
    new EncryptionCodec([k1], {
      refusePlain: true,
      enforceBinding: true,
      scheduledWorkflowIds: ['rotate-expiring-certificates'],
      ...options,
    });
  const value = async (
    codec: EncryptionCodec,
    p: Payload,
    context?: Parameters<EncryptionCodec['decode']>[1],
  ) => defaultPayloadConverter.fromPayload(((await codec.decode([p], context)) as Payload[])[0] as Payload);

  it('binds to the context it was encoded for; the worker refuses it for another workflow or namespace', async () => {
    const [bound] = await new EncryptionCodec([k1]).encode(
      [payload({ plantId: 'p1' })],
      wf('provision-plant-p1'),
    );
    if (!bound) throw new Error('nothing encoded');
    expect(JSON.parse(meta(bound, BINDING_METADATA))).toEqual({
      namespace: 'default',
      workflowId: 'provision-plant-p1',
    });
    expect(await value(worker(), bound, wf('provision-plant-p1'))).toEqual({ plantId: 'p1' });
    const activity = {
      type: 'activity' as const,
      namespace: 'default',
      workflowId: 'provision-plant-p1',
      activityId: '3',
      isLocal: false,
    };
    expect(await value(worker(), bound, activity)).toEqual({ plantId: 'p1' });
    await expect(worker().decode([bound], wf('deprovision-plant-p1'))).rejects.toThrow(
      /^refused a payload encrypted for workflow "provision-plant-p1" in namespace "default", not for workflow "deprovision-plant-p1"/,
    );
    await expect(worker().decode([bound], wf('provision-plant-p1', 'other'))).rejects.toMatchObject({
      reason: 'OTHER_WORKFLOW',
    });
    // Readers (no context: codec server, CLI; or a client's codec) accept every binding.
    expect(await value(new EncryptionCodec([k1]), bound)).toEqual({ plantId: 'p1' });
    expect(await value(new EncryptionCodec([k1]), bound, wf('elsewhere'))).toEqual({ plantId: 'p1' });
    expect(await value(worker(), bound)).toEqual({ plantId: 'p1' });
  });

  it('detects a rewritten or stripped binding (authenticated, not just a label)', async () => {
    const [bound] = await new EncryptionCodec([k1]).encode([payload('x')], wf('provision-plant-p1'));
    if (!bound) throw new Error('nothing encoded');
    const rewritten = {
      ...bound,
      metadata: {
        ...bound.metadata,
        [BINDING_METADATA]: Buffer.from(
          JSON.stringify({ namespace: 'default', workflowId: 'deprovision-plant-p1' }),
        ),
      },
    };
    const { [BINDING_METADATA]: _, ...unbound } = bound.metadata ?? {};
    for (const forged of [rewritten, { ...bound, metadata: unbound }]) {
      for (const codec of [worker({ allowUnbound: true }), new EncryptionCodec([k1])]) {
        await expect(codec.decode([forged], wf('deprovision-plant-p1'))).rejects.toMatchObject({
          reason: 'AUTHENTICATION_FAILED',
        });
      }
    }
  });

  it('refuses unbound payloads (from before the binding) unless allowed; readers always read them', async () => {
    const [unbound] = await new EncryptionCodec([k1]).encode([payload('old')]);
    if (!unbound) throw new Error('nothing encoded');
    expect(unbound.metadata?.[BINDING_METADATA]).toBeUndefined();
    await expect(worker().decode([unbound], wf('provision-plant-p1'))).rejects.toThrow(
      /without a workflow binding.*TEMPORAL_ALLOW_UNBOUND_PAYLOADS=true/,
    );
    expect(await value(worker({ allowUnbound: true }), unbound, wf('provision-plant-p1'))).toBe('old');
    expect(await value(new EncryptionCodec([k1]), unbound, wf('provision-plant-p1'))).toBe('old');
    expect(readAllowUnboundPayloads({})).toBe(false);
    expect(readAllowUnboundPayloads({ TEMPORAL_ALLOW_UNBOUND_PAYLOADS: 'true' })).toBe(true);
    expect(() => readAllowUnboundPayloads({ TEMPORAL_ALLOW_UNBOUND_PAYLOADS: '1' })).toThrow(
      /^TEMPORAL_ALLOW_UNBOUND_PAYLOADS: "1" is neither true nor false\. Fix: /,
    );
  });

  it("lets a schedule's runs <id>-<RFC 3339> read its input and a sibling run's result, for scheduled ids only", async () => {
    const client = new EncryptionCodec([k1]);
    const [input] = await client.encode([payload('input')], wf('rotate-expiring-certificates'));
    const [previous] = await client.encode(
      [payload('last')],
      wf('rotate-expiring-certificates-2026-12-01T05:00:00Z'),
    );
    if (!input || !previous) throw new Error('nothing encoded');
    const run = wf('rotate-expiring-certificates-2026-12-02T05:00:00Z');
    expect(await value(worker(), input, run)).toBe('input');
    expect(await value(worker(), previous, run)).toBe('last');
    // Not a timestamp, or not a run of a scheduled id: refused.
    for (const id of ['rotate-expiring-certificates-x', 'rotate-expiring-certificates-2026-12-02']) {
      await expect(worker().decode([input], wf(id))).rejects.toMatchObject({ reason: 'OTHER_WORKFLOW' });
    }
    const [provision] = await client.encode([payload({ plantId: 'p1' })], wf('provision-plant-p1'));
    if (!provision) throw new Error('nothing encoded');
    await expect(
      worker().decode([provision], wf('provision-plant-p1-2026-12-02T05:00:00Z')),
    ).rejects.toMatchObject({ reason: 'OTHER_WORKFLOW' });
  });

  it('binds a standalone activity (no workflow) to its activity id', async () => {
    const standalone = (activityId: string) => ({
      type: 'activity' as const,
      namespace: 'default',
      activityId,
      isLocal: false,
    });
    const [p] = await new EncryptionCodec([k1]).encode([payload('a')], standalone('a1'));
    if (!p) throw new Error('nothing encoded');
    expect(await value(worker(), p, standalone('a1'))).toBe('a');
    await expect(worker().decode([p], standalone('a2'))).rejects.toThrow(/standalone activity "a1"/);
    await expect(worker().decode([p], wf('a1'))).rejects.toMatchObject({ reason: 'OTHER_WORKFLOW' });
  });
});

describe('codec keys from the environment', () => {
  it('parses TEMPORAL_CODEC_KEYS in base64 or hex, current first', () => {
    const keys = parseCodecKeys({
      TEMPORAL_CODEC_KEYS: `2025:${k1.key.toString('base64')}, 2024:${k2.key.toString('hex')}`,
    });
    expect(keys?.map((k) => k.id)).toEqual(['2025', '2024']);
    expect(keys?.[0]?.key.equals(k1.key)).toBe(true);
    expect(keys?.[1]?.key.equals(k2.key)).toBe(true);
    expect(parseCodecKeys({})).toBeUndefined();
  });

  it('refuses short, malformed and duplicate keys with one line each, never echoing a key', () => {
    const short = randomBytes(16).toString('base64');
    let error: unknown;
    try {
      parseCodecKeys({
        TEMPORAL_CODEC_KEYS: `a:${short},nokey,a:${k1.key.toString('base64')},a:${k2.key.toString('hex')}`,
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const lines = (error as Error).message.split('\n');
    expect(lines).toHaveLength(3);
    for (const line of lines) expect(line).toMatch(/^TEMPORAL_CODEC_KEYS: .*Fix: /);
    expect(lines[0]).toMatch(/entry 1 of 4 \(key id "a"\) is not 32 bytes/);
    expect(lines[1]).toMatch(/entry 2 of 4 has no valid key id/);
    expect(lines[2]).toMatch(/key id "a" appears twice/);
    expect((error as Error).message).not.toContain(short);
    expect((error as Error).message).not.toContain(k2.key.toString('hex'));
  });

  it('derives keys from ENCRYPTION_KEY (and previous keys) when TEMPORAL_CODEC_KEYS is unset', async () => {
    const current = 'c'.repeat(16) + randomBytes(16).toString('hex');
    const previous = 'p'.repeat(16) + randomBytes(16).toString('hex');
    const a = await deriveCodecKeys({ currentKey: current, previousKeys: [previous] });
    const b = await loadCodecKeys(undefined, { currentKey: current, previousKeys: [] });
    expect(a.map((k) => k.id)).toEqual([
      expect.stringMatching(/^ek-[0-9a-f]{16}$/),
      expect.stringMatching(/^ek-/),
    ]);
    expect(b.source).toBe('derived from ENCRYPTION_KEY');
    expect(b.keys[0]).toEqual(a[0]); // stable: every process derives the same key
    expect(a[0]?.key.equals(Buffer.from(current))).toBe(false);
  });

  it('stops start-up when there is no key at all, or it is too short', async () => {
    await expect(loadCodecKeys(undefined, { currentKey: undefined, previousKeys: [] })).rejects.toThrow(
      /^TEMPORAL_CODEC_KEYS: is not set, and ENCRYPTION_KEY .* is not set either\. Fix: /,
    );
    await expect(loadCodecKeys(undefined, { currentKey: 'short', previousKeys: [] })).rejects.toThrow(
      /too short/,
    );
  });

  it('requires a long CODEC_SERVER_TOKEN and valid port and origins', () => {
    expect(() => readCodecServerSettings({})).toThrow(/^CODEC_SERVER_TOKEN: is not set/);
    expect(() => readCodecServerSettings({ CODEC_SERVER_TOKEN: 'abc' })).toThrow(/3 characters long/);
    const e = (() => {
      try {
        readCodecServerSettings({
          CODEC_SERVER_TOKEN: TOKEN,
          CODEC_SERVER_PORT: 'x',
          CODEC_CORS_ORIGINS: 'http://a/b',
        });
      } catch (err) {
        return err as Error;
      }
    })();
    expect(e?.message.split('\n')).toEqual([
      expect.stringMatching(/^CODEC_SERVER_PORT: /),
      expect.stringMatching(/^CODEC_CORS_ORIGINS: /),
    ]);
    expect(readCodecServerSettings({ CODEC_SERVER_TOKEN: TOKEN })).toMatchObject({
      port: 8234,
      host: '127.0.0.1',
      corsOrigins: [UI],
      allowEncode: false,
    });
  });
});

describe('codec server', () => {
  const codec = new EncryptionCodec([k1]);
  const requests: { route: string; status: number }[] = [];
  const server = createCodecServer({
    codec,
    token: TOKEN,
    corsOrigins: [UI],
    allowEncode: true,
    onRequest: (r) => requests.push(r),
  });
  let base = '';

  beforeAll(async () => {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const asJson = (p: Payload) => ({
    metadata: Object.fromEntries(
      Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? []).toString('base64')]),
    ),
    data: Buffer.from(p.data ?? []).toString('base64'),
  });
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Namespace': 'default', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const auth = { Authorization: `Bearer ${TOKEN}` };

  it('answers 401 without the token or with a wrong one, before reading the body', async () => {
    const body = { payloads: [asJson(payload('x'))] };
    expect((await post('/decode', body)).status).toBe(401);
    const wrong = await post('/decode', body, { Authorization: `Bearer ${TOKEN.slice(0, -1)}x` });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toBe('Bearer');
    expect((await post('/t/not-the-token/decode', 'garbage')).status).toBe(401);
    expect((await post('/encode', 'garbage')).status).toBe(401);
  });

  it('answers 400 to bodies that are not codec requests', async () => {
    const bad = [
      'not json',
      '{"payloads": "nope"}',
      '{"something": []}',
      '{"payloads":[{"data":"***"}]}',
      '{"payloads":[{"metadata":{"encoding":42}}]}',
      '[]',
    ];
    for (const body of bad) {
      const res = await post('/decode', body, auth);
      expect(res.status, body).toBe(400);
      expect(((await res.json()) as { error: string }).error).toMatch(/^not a codec request/);
    }
    const wrongType = await post('/decode', { payloads: [] }, { ...auth, 'Content-Type': 'text/plain' });
    expect(wrongType.status).toBe(400);
  });

  it('round-trips payloads through /encode and /decode, with a bearer token or the UI path token', async () => {
    const original = [payload({ plantName: 'Sunny Acres' }), payload('two')];
    const enc = await post('/encode', { payloads: original.map(asJson) }, auth);
    expect(enc.status).toBe(200);
    const encoded = (await enc.json()) as { payloads: { metadata: Record<string, string>; data: string }[] };
    expect(encoded.payloads).toHaveLength(2);
    for (const p of encoded.payloads) {
      expect(Buffer.from(p.metadata.encoding ?? '', 'base64').toString()).toBe(ENCODING);
      expect(Buffer.from(p.data, 'base64').toString('latin1')).not.toContain('Sunny');
    }
    const dec = await post(`/t/${TOKEN}/decode`, encoded, { Origin: UI });
    expect(dec.status).toBe(200);
    expect(dec.headers.get('access-control-allow-origin')).toBe(UI);
    const decoded = (await dec.json()) as { payloads: ReturnType<typeof asJson>[] };
    expect(decoded).toEqual({ payloads: original.map(asJson) });
    // Decoded by the codec the worker uses, not just echoed.
    const viaCodec = await codec.decode(
      encoded.payloads.map((p) => ({
        metadata: Object.fromEntries(
          Object.entries(p.metadata).map(([k, v]) => [k, Buffer.from(v, 'base64')]),
        ),
        data: Buffer.from(p.data, 'base64'),
      })),
    );
    expect(defaultPayloadConverter.fromPayload(viaCodec[0] as Payload)).toEqual({ plantName: 'Sunny Acres' });
  });

  it('answers 422 naming the key id for unknown keys and tampered payloads', async () => {
    const [foreign] = await new EncryptionCodec([k2]).encode([payload('x')]);
    const unknown = await post('/decode', { payloads: [asJson(foreign as Payload)] }, auth);
    expect(unknown.status).toBe(422);
    expect(await unknown.json()).toMatchObject({ keyId: 'k2', error: expect.stringMatching(/key id "k2"/) });

    const [mine] = await codec.encode([payload('x')]);
    const data = Buffer.from(mine?.data ?? []);
    data[20] = (data[20] ?? 0) ^ 0xff;
    const tampered = await post('/decode', { payloads: [asJson({ ...mine, data })] }, auth);
    expect(tampered.status).toBe(422);
    expect(((await tampered.json()) as { error: string }).error).toMatch(/key id "k1" failed authentication/);
  });

  it('answers CORS preflights for the UI origin only, and 404/405 elsewhere', async () => {
    const preflight = await fetch(`${base}/decode`, {
      method: 'OPTIONS',
      headers: {
        Origin: UI,
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'content-type,x-namespace',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(UI);
    expect(preflight.headers.get('access-control-allow-headers')).toMatch(/X-Namespace/);
    expect(preflight.headers.get('access-control-allow-methods')).toMatch(/POST/);

    const evil = await fetch(`${base}/decode`, {
      method: 'OPTIONS',
      headers: { Origin: 'http://evil.example' },
    });
    expect(evil.headers.get('access-control-allow-origin')).toBeNull();
    expect((await fetch(`${base}/decode`)).status).toBe(405);
    expect((await post('/other', {}, auth)).status).toBe(404);
  });

  it('never puts the token in what it logs', () => {
    expect(requests.length).toBeGreaterThan(5);
    expect(JSON.stringify(requests)).not.toContain(TOKEN);
  });
});

describe('codec server process', () => {
  const start = (env: Record<string, string>) =>
    started(tsx(['src/codec/main.ts']), { env: { PATH: process.env.PATH ?? '', ...env } });

  it('starts as a child process, serves requests and stops on SIGTERM', async () => {
    const child = start({
      CODEC_SERVER_TOKEN: TOKEN,
      CODEC_SERVER_PORT: '0',
      TEMPORAL_CODEC_KEYS: `k1:${k1.key.toString('base64')}`,
    });
    const text = child.output;
    await child.waitFor(/"url":"(http:[^"]+)"/, 30_000);
    const url = /"url":"(http:[^"]+)"/.exec(text())?.[1];
    expect(url, text()).toBeDefined();
    const [encoded] = await new EncryptionCodec([k1]).encode([payload('hello')]);
    const res = await fetch(`${url}/decode`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({
        payloads: [
          {
            metadata: Object.fromEntries(
              Object.entries(encoded?.metadata ?? {}).map(([k, v]) => [
                k,
                Buffer.from(v ?? []).toString('base64'),
              ]),
            ),
            data: Buffer.from(encoded?.data ?? []).toString('base64'),
          },
        ],
      }),
    });
    expect(res.status).toBe(200);
    expect(await child.stop()).toBe(0);
    expect(text()).not.toContain(TOKEN);
    expect(text()).not.toContain(k1.key.toString('base64'));
  });

  it('exits 2 with one line naming the variable when the token is missing', async () => {
    const child = start({ TEMPORAL_CODEC_KEYS: `k1:${k1.key.toString('base64')}` });
    expect(await child.exited).toBe(2);
    expect(child.output().trim().split('\n')).toEqual([
      expect.stringMatching(/^CODEC_SERVER_TOKEN: is not set/),
    ]);
  });
});
