/**
 * The Temporal PayloadCodec that keeps workflow data out of the Temporal server in clear:
 * inputs, results, activity arguments, heartbeat details, queries, memos and (with the failure
 * converter in ./failure-converter.cjs) failure messages and stack traces.
 *
 * An encoded payload:
 *   metadata  encoding = "binary/encrypted", encryption-key-id = <key id>
 *   data      iv(12) | AES-256-GCM( protobuf of the original Payload ) | tag(16)
 * The AAD binds the format version and the key id, so relabelling a payload with another key id
 * fails authentication instead of being tried under the wrong key.
 *
 * Decoding accepts every configured key, so keys rotate: add the new key first, keep the old
 * ones until no open workflow (or retained history anyone needs to read) uses them.
 *
 * Payloads that are not `binary/encrypted` pass through for readers (clients, the codec server:
 * histories written before encryption was turned on stay readable), but the worker refuses them
 * (`refusePlain`): anyone who reaches Temporal could otherwise start `deprovisionPlant` with a
 * plain input and have it executed. TEMPORAL_ALLOW_PLAIN_PAYLOADS=true lifts that for a migration.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Payload, PayloadCodec } from '@temporalio/common';
// Default import: @temporalio/proto is CommonJS, and Node's ESM loader cannot name its exports.
import proto from '@temporalio/proto';
import type { CodecKey } from './settings.js';

export const ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';
const FORMAT = 'solar-iot/payload/v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

const ProtoPayload = proto.temporal.api.common.v1.Payload;

/** A payload that cannot be decoded. Names the key id; never carries data or key. */
export class PayloadCodecError extends Error {
  override readonly name = 'PayloadCodecError';
  constructor(
    message: string,
    readonly keyId: string | undefined,
    readonly reason: 'UNKNOWN_KEY' | 'AUTHENTICATION_FAILED' | 'MALFORMED' | 'NOT_ENCRYPTED',
  ) {
    super(message);
  }
}

const text = (bytes: Uint8Array | null | undefined) =>
  bytes ? Buffer.from(bytes).toString('utf8') : undefined;
const aad = (keyId: string) => Buffer.from(`${FORMAT}|${keyId}`, 'utf8');

export class EncryptionCodec implements PayloadCodec {
  private readonly byId: Map<string, Buffer>;
  private readonly current: CodecKey;

  private readonly refusePlain: boolean;

  /** `keys[0]` encrypts; every key decrypts. `refusePlain`: decoding a plain payload throws. */
  constructor(keys: readonly CodecKey[], options: { refusePlain?: boolean } = {}) {
    this.refusePlain = options.refusePlain ?? false;
    const [first] = keys;
    if (!first) throw new Error('EncryptionCodec needs at least one key');
    for (const k of keys) {
      if (k.key.length !== 32)
        throw new Error(`codec key "${k.id}" is ${k.key.length} bytes; AES-256 needs 32`);
    }
    this.current = first;
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
  }

  /** The key id new payloads are encrypted with. */
  get currentKeyId(): string {
    return this.current.id;
  }

  get keyIds(): string[] {
    return [...this.byId.keys()];
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => this.encodeOne(payload));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => this.decodeOne(payload));
  }

  encodeOne(payload: Payload): Payload {
    const { id, key } = this.current;
    const iv = randomBytes(IV_BYTES);
    const gcm = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    gcm.setAAD(aad(id));
    const plain = ProtoPayload.encode(payload).finish();
    const body = Buffer.concat([gcm.update(plain), gcm.final()]);
    return {
      metadata: { encoding: Buffer.from(ENCODING), [KEY_ID_METADATA]: Buffer.from(id) },
      data: Buffer.concat([iv, body, gcm.getAuthTag()]),
    };
  }

  decodeOne(payload: Payload): Payload {
    const encoding = text(payload.metadata?.encoding);
    if (encoding !== ENCODING) {
      if (!this.refusePlain) return payload;
      throw new PayloadCodecError(
        `refused a payload that is not encrypted by the solar-iot codec (encoding ${JSON.stringify(encoding ?? '')}): it was sent by a client without the payload codec, so nothing of it runs. Start workflows through solar-iot's clients (API, CLI), or set TEMPORAL_ALLOW_PLAIN_PAYLOADS=true on the worker while migrating from unencrypted histories`,
        undefined,
        'NOT_ENCRYPTED',
      );
    }
    const keyId = text(payload.metadata?.[KEY_ID_METADATA]);
    if (!keyId) {
      throw new PayloadCodecError(
        `encrypted payload has no ${KEY_ID_METADATA} metadata: it was modified`,
        undefined,
        'MALFORMED',
      );
    }
    const key = this.byId.get(keyId);
    if (!key) {
      throw new PayloadCodecError(
        `payload was encrypted with key id "${keyId}", which is not configured (known: ${this.keyIds.join(', ')}); add that key to TEMPORAL_CODEC_KEYS (or its ENCRYPTION_KEY to ENCRYPTION_KEYS_PREVIOUS)`,
        keyId,
        'UNKNOWN_KEY',
      );
    }
    const data = Buffer.from(payload.data ?? new Uint8Array());
    if (data.length < IV_BYTES + TAG_BYTES) {
      throw new PayloadCodecError(
        `payload encrypted with key id "${keyId}" is truncated`,
        keyId,
        'MALFORMED',
      );
    }
    let plain: Buffer;
    try {
      const gcm = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES), {
        authTagLength: TAG_BYTES,
      });
      gcm.setAAD(aad(keyId));
      gcm.setAuthTag(data.subarray(data.length - TAG_BYTES));
      plain = Buffer.concat([gcm.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), gcm.final()]);
    } catch {
      throw new PayloadCodecError(
        `payload encrypted with key id "${keyId}" failed authentication: it was modified, or "${keyId}" names a different key here than where it was encrypted`,
        keyId,
        'AUTHENTICATION_FAILED',
      );
    }
    const inner = ProtoPayload.decode(plain);
    return { metadata: inner.metadata, data: inner.data };
  }
}
