/**
 * The Temporal codec server (the documented protocol): `POST /encode` and `POST /decode` take and
 * return `{"payloads":[{"metadata":{"<key>":"<base64>"},"data":"<base64>"}]}` (proto3 JSON), with
 * the namespace in `X-Namespace`. The Web UI and `temporal --codec-endpoint` call it to show
 * decoded payloads to operators.
 *
 * Protection: every encode/decode needs the token, as `Authorization: Bearer <token>` (the CLI's
 * `--codec-auth`, proxies) or as the path prefix `/t/<token>/` (the Web UI of a dev server has no
 * login, so it cannot send a bearer token; the endpoint URL configured in the UI then carries it).
 * CORS answers only the configured UI origins, and a request with any other Origin is refused
 * (403) even with the token. Request bodies are never logged.
 *
 * `/encode` is off unless `allowEncode` (CODEC_SERVER_ALLOW_ENCODE=true): the token is no secret
 * from local users (the dev server's Web UI hands its endpoint to whoever loads
 * /api/v1/settings), and an encoder lets its holder turn any input into one the worker runs
 * (`temporal workflow start --codec-endpoint ... --type deprovisionPlant`), which is what the
 * worker's refusal of plain payloads exists to stop. Decoding only reads.
 *
 * Status codes: 204 preflight, 200 done, 400 not a codec request, 401 no or wrong token,
 * 403 foreign Origin or encoding off, 404 unknown path, 405 not POST, 413 body too large or more
 * than MAX_PAYLOADS payloads, 422 a payload that cannot be decoded (unknown key id or tampered;
 * the message names the key id).
 */
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { z } from 'zod';
import { PayloadCodecError } from './payload-codec.js';

export const MAX_BODY_BYTES = 8 * 1024 * 1024;
/**
 * Payloads per request. 8 MiB of `{}` is 2.7 million payloads: decoding them blocked the process
 * for 24 s, encoding for 4 minutes at 2.5 GB. A history event carries a handful; the Web UI and
 * the CLI send one request per event.
 */
export const MAX_PAYLOADS = 10_000;

export interface CodecServerOptions {
  codec: PayloadCodec;
  token: string;
  corsOrigins: readonly string[];
  /** Serve POST /encode (default false: see the header comment). */
  allowEncode?: boolean;
  /** Called once per request, with no body and no token (path shown without the token). */
  onRequest?: (entry: {
    method: string;
    route: string;
    status: number;
    namespace?: string;
    payloads?: number;
    error?: string;
  }) => void;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const base64 = z.string().regex(BASE64, { error: 'is not base64' });
const codecRequest = z.object({
  payloads: z.array(
    z.object({
      metadata: z.record(z.string(), base64).optional(),
      data: base64.optional(),
      externalPayloads: z.array(z.unknown()).optional(),
    }),
  ),
});
const payloadList = z.object({ payloads: z.array(z.unknown()) });

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function sameToken(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function fromJson(p: z.infer<typeof codecRequest>['payloads'][number]): Payload {
  const metadata: Record<string, Uint8Array> = {};
  for (const [k, v] of Object.entries(p.metadata ?? {})) metadata[k] = Buffer.from(v, 'base64');
  return { metadata, data: Buffer.from(p.data ?? '', 'base64') };
}

function toJson(p: Payload): { metadata: Record<string, string>; data: string } {
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(p.metadata ?? {}))
    if (v) metadata[k] = Buffer.from(v).toString('base64');
  return { metadata, data: Buffer.from(p.data ?? new Uint8Array()).toString('base64') };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES) throw new HttpError(413, `body larger than ${MAX_BODY_BYTES} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, `body larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The request handler, usable with any node:http server. */
export function codecRequestHandler(options: CodecServerOptions) {
  const origins = new Set(options.corsOrigins);

  function cors(req: IncomingMessage, res: ServerResponse) {
    const origin = req.headers.origin;
    res.setHeader('Vary', 'Origin');
    if (origin && origins.has(origin)) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Allow-Credentials', 'true');
    }
  }

  function send(res: ServerResponse, status: number, body?: unknown): void {
    res.statusCode = status;
    res.setHeader('Cache-Control', 'no-store');
    if (status === 401) res.setHeader('WWW-Authenticate', 'Bearer');
    if (body === undefined) {
      res.end();
      return;
    }
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify(body));
  }

  /** The token in a `/t/<token>/` path, or undefined when it is not valid percent-encoding. */
  function pathToken(encoded: string | undefined): string | undefined {
    if (!encoded) return undefined;
    try {
      return decodeURIComponent(encoded);
    } catch {
      return undefined;
    }
  }

  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = req.method ?? 'GET';
    // Origin-form targets only (`/decode`); absolute-form, `*` and the like are not codec requests.
    const target = req.url ?? '';
    const path = target.startsWith('/') ? (target.split('?')[0] ?? '') : '';
    // `/t/<token>/decode` or `/decode`; the token never reaches a log line.
    const m = /^(?:\/t\/([^/]+))?\/(encode|decode)\/?$/.exec(path);
    const route = m
      ? `/${m[2]}`
      : path.startsWith('/t/')
        ? '/t/***'
        : path.slice(0, 100) || '(invalid target)';
    const namespace = typeof req.headers['x-namespace'] === 'string' ? req.headers['x-namespace'] : undefined;
    const log = (status: number, extra: { payloads?: number; error?: string } = {}) =>
      options.onRequest?.({ method, route, status, ...(namespace ? { namespace } : {}), ...extra });

    cors(req, res);
    // A browser always sends Origin on cross-origin requests and on every POST: one from a page
    // that is not the configured Web UI (another site, a DNS-rebound name) is refused even with
    // the token, so a page that learnt it cannot use it. Clients without Origin (CLI) need the token.
    const origin = req.headers.origin;
    if (origin !== undefined && !origins.has(origin)) {
      log(403);
      return send(res, 403, { error: 'origin not allowed: add it to CODEC_CORS_ORIGINS' });
    }
    if (!m) {
      log(404);
      return send(res, 404, { error: 'not found: the codec server answers POST /encode and POST /decode' });
    }
    if (method === 'OPTIONS') {
      // Preflight: browsers never send credentials with it, so it is answered without the token.
      if (origin) {
        res.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
        res.setHeader('Access-Control-Allow-Headers', 'Content-Type, X-Namespace, Authorization');
        res.setHeader('Access-Control-Max-Age', '600');
      }
      log(204);
      return send(res, 204);
    }
    if (method !== 'POST') {
      res.setHeader('Allow', 'POST, OPTIONS');
      log(405);
      return send(res, 405, { error: `${method} not allowed: use POST` });
    }
    const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const fromPath = pathToken(m[1]);
    if (!(bearer && sameToken(bearer, options.token)) && !(fromPath && sameToken(fromPath, options.token))) {
      log(401);
      return send(res, 401, {
        error: 'missing or wrong token: send Authorization: Bearer <CODEC_SERVER_TOKEN>',
      });
    }
    if (m[2] === 'encode' && !options.allowEncode) {
      log(403);
      return send(res, 403, {
        error:
          'encoding is off: whoever holds the codec token could encrypt workflow inputs the worker runs. Start workflows through the API or CLI, or set CODEC_SERVER_ALLOW_ENCODE=true',
      });
    }
    try {
      const contentType = req.headers['content-type'] ?? '';
      if (!/^application\/json\b/i.test(contentType)) {
        throw new HttpError(400, 'not a codec request: Content-Type must be application/json');
      }
      let json: unknown;
      try {
        json = JSON.parse(await readBody(req));
      } catch (error) {
        if (error instanceof HttpError) throw error;
        throw new HttpError(400, 'not a codec request: the body is not JSON');
      }
      // Counted before the per-payload checks, which alone take seconds on millions of payloads.
      const list = payloadList.safeParse(json);
      if (list.success && list.data.payloads.length > MAX_PAYLOADS) {
        throw new HttpError(
          413,
          `${list.data.payloads.length} payloads in one request; at most ${MAX_PAYLOADS}: split the request`,
        );
      }
      const parsed = codecRequest.safeParse(json);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new HttpError(
          400,
          `not a codec request: expected {"payloads":[{"metadata":{...base64},"data":"<base64>"}]} (${issue ? `${issue.path.join('.') || 'body'} ${issue.message}` : 'invalid'})`,
        );
      }
      const payloads = parsed.data.payloads.map(fromJson);
      const out =
        m[2] === 'encode' ? await options.codec.encode(payloads) : await options.codec.decode(payloads);
      log(200, { payloads: payloads.length });
      return send(res, 200, { payloads: out.map(toJson) });
    } catch (error) {
      if (error instanceof HttpError) {
        log(error.status, { error: error.message });
        return send(res, error.status, { error: error.message });
      }
      if (error instanceof PayloadCodecError) {
        log(422, { error: error.message });
        return send(res, 422, { error: error.message, keyId: error.keyId ?? null });
      }
      // A payload whose decrypted bytes are not a Payload protobuf, a stream error, ...
      log(500, { error: 'internal error' });
      return send(res, 500, { error: 'internal error' });
    }
  };
}

/**
 * The codec HTTP server. No request, however malformed, may end the process (the Web UI would
 * silently stop decoding): whatever the handler throws becomes a 500, and a response that can no
 * longer be written just closes its connection.
 */
export function createCodecServer(options: CodecServerOptions): Server {
  const handler = codecRequestHandler(options);
  return createServer((req, res) => {
    res.on('error', () => undefined);
    handler(req, res).catch(() => {
      if (!res.headersSent) {
        res.statusCode = 500;
        res.end();
      } else res.destroy();
    });
  });
}
