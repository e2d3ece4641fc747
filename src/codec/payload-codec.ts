/**
 * The Temporal PayloadCodec that keeps workflow data out of the Temporal server in clear:
 * inputs, results, activity arguments, heartbeat details, queries, memos and (with the failure
 * converter in ./failure-converter.cjs) failure messages and stack traces.
 *
 * An encoded payload:
 *   metadata  encoding = "binary/encrypted", encryption-key-id = <key id>,
 *             encryption-binding = {"namespace":...,"workflowId":...} (format v2)
 *   data      iv(12) | AES-256-GCM( protobuf of the original Payload ) | tag(16)
 * The AAD binds the format version, the key id and the binding, so relabelling a payload with
 * another key id or binding, or stripping the binding, fails authentication.
 *
 * The binding: the SDK passes the codec a SerializationContext (the workflow a payload belongs
 * to: the started workflow for a start, signal, query or update, the child for a child's input,
 * the scheduling workflow for activity arguments, results and heartbeats). A payload is bound to
 * that namespace and workflow id (a standalone activity's: its activity id). Anyone who can read
 * a history could otherwise copy the encrypted `{plantId}` input of provision-plant-X into a
 * `deprovisionPlant` start and the worker would decrypt and run it. The worker's codec
 * (`enforceBinding`) refuses a payload bound to another workflow; readers (clients, the codec
 * server, which get no workflow id from the Web UI) accept every binding.
 *
 * Schedules: a run of a schedule gets the id `<action workflow id>-<RFC 3339 UTC timestamp>`
 * (Temporal server, scheduler startWorkflow: `nominalTime.UTC().Format(time.RFC3339)`, e.g.
 * `rotate-expiring-certificates-2026-12-02T05:00:00Z`), and its input was encoded by
 * `client.schedule.create` for the action's workflow id. So for the action workflow ids listed in
 * `scheduledWorkflowIds` only, a run `<id>-<timestamp>` accepts payloads bound to `<id>` or to a
 * sibling run `<id>-<other timestamp>` (the last completion result the server passes on). Not for
 * every id: the binding does not name the workflow type, and a rule open to any id would let
 * `deprovisionPlant` run as `provision-plant-X-2026-01-01T00:00:00Z` with provision-plant-X's input.
 *
 * Unbound payloads (format v1, written before bindings existed, or encoded without a context:
 * the codec server's POST /encode) are refused by the worker unless TEMPORAL_ALLOW_UNBOUND_PAYLOADS
 * =true (`allowUnbound`), for the upgrade: open workflows and replays still carry v1 payloads.
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
import type { Payload, PayloadCodec, SerializationContext } from '@temporalio/common';
// Default import: @temporalio/proto is CommonJS, and Node's ESM loader cannot name its exports.
import proto from '@temporalio/proto';
import type { CodecKey } from './settings.js';

export const ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';
export const BINDING_METADATA = 'encryption-binding';
const FORMAT_UNBOUND = 'solar-iot/payload/v1';
const FORMAT_BOUND = 'solar-iot/payload/v2';
const IV_BYTES = 12;
const TAG_BYTES = 16;

const ProtoPayload = proto.temporal.api.common.v1.Payload;

/** A payload that cannot be decoded. Names the key id; never carries data or key. */
export class PayloadCodecError extends Error {
  override readonly name = 'PayloadCodecError';
  constructor(
    message: string,
    readonly keyId: string | undefined,
    readonly reason:
      | 'UNKNOWN_KEY'
      | 'AUTHENTICATION_FAILED'
      | 'MALFORMED'
      | 'NOT_ENCRYPTED'
      | 'UNBOUND'
      | 'OTHER_WORKFLOW',
  ) {
    super(message);
  }
}

const text = (bytes: Uint8Array | null | undefined) =>
  bytes ? Buffer.from(bytes).toString('utf8') : undefined;

/**
 * The one plain payload the Temporal server writes itself: an activity cancelled before any worker
 * started it gets ActivityTaskCanceled with details `"ACTIVITY_ID_NOT_STARTED"` (json/plain, from
 * the server's history engine, `activityCancellationMsgActivityNotStarted`). The worker must
 * decode it, or every provision cancelled while a step waits in its queue fails its workflow tasks
 * until the backoff reaches minutes (the chaos interleaving test: 40 starts took 927 s). It
 * carries nothing a workflow could act on.
 */
const SERVER_CANCELLATION_MARKER = JSON.stringify('ACTIVITY_ID_NOT_STARTED');
const isServerCancellationMarker = (payload: Payload) =>
  text(payload.metadata?.encoding) === 'json/plain' &&
  Object.keys(payload.metadata ?? {}).length === 1 &&
  text(payload.data) === SERVER_CANCELLATION_MARKER;
/** v1 (unbound) keeps its original AAD so existing histories decrypt; v2 adds the binding. */
const aad = (keyId: string, binding: string | undefined) =>
  binding === undefined
    ? Buffer.from(`${FORMAT_UNBOUND}|${keyId}`, 'utf8')
    : Buffer.from(JSON.stringify([FORMAT_BOUND, keyId, binding]), 'utf8');

/** What a payload is bound to: a workflow, or (outside any workflow) a standalone activity. */
export type PayloadBinding =
  | { namespace: string; workflowId: string }
  | { namespace: string; activityId: string };

/** The binding for a serialization context; undefined without one (the payload stays unbound). */
export function bindingFor(context: SerializationContext | undefined): PayloadBinding | undefined {
  if (!context) return undefined;
  if (context.workflowId) return { namespace: context.namespace, workflowId: context.workflowId };
  if (context.type === 'activity' && context.activityId)
    return { namespace: context.namespace, activityId: context.activityId };
  return undefined;
}

const describeBinding = (b: PayloadBinding) =>
  'workflowId' in b
    ? `workflow "${b.workflowId}" in namespace "${b.namespace}"`
    : `standalone activity "${b.activityId}" in namespace "${b.namespace}"`;

/** `<id>-<RFC 3339 timestamp>`, the id the Temporal scheduler gives a run of action id `<id>`. */
const SCHEDULED_RUN = /^(.+)-\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)$/;

function parseBinding(text: string | undefined): PayloadBinding | undefined {
  if (text === undefined) return undefined;
  try {
    const b = JSON.parse(text) as Record<string, unknown>;
    if (typeof b?.namespace !== 'string') return undefined;
    if (typeof b.workflowId === 'string') return { namespace: b.namespace, workflowId: b.workflowId };
    if (typeof b.activityId === 'string') return { namespace: b.namespace, activityId: b.activityId };
  } catch {}
  return undefined;
}

export interface EncryptionCodecOptions {
  /** Decoding a payload that is not encrypted throws (the worker). */
  refusePlain?: boolean;
  /** With a serialization context, decoding a payload bound to another workflow throws (the worker). */
  enforceBinding?: boolean;
  /** With `enforceBinding`: accept payloads without a binding (v1, from before bindings). */
  allowUnbound?: boolean;
  /** Action workflow ids of schedules: their runs `<id>-<timestamp>` accept payloads bound to `<id>`. */
  scheduledWorkflowIds?: readonly string[];
}

export class EncryptionCodec implements PayloadCodec {
  private readonly byId: Map<string, Buffer>;
  private readonly current: CodecKey;

  private readonly refusePlain: boolean;
  private readonly enforceBinding: boolean;
  private readonly allowUnbound: boolean;
  private readonly scheduledWorkflowIds: ReadonlySet<string>;

  /** `keys[0]` encrypts; every key decrypts. The options make it the worker's (refusing) codec. */
  constructor(keys: readonly CodecKey[], options: EncryptionCodecOptions = {}) {
    this.refusePlain = options.refusePlain ?? false;
    this.enforceBinding = options.enforceBinding ?? false;
    this.allowUnbound = options.allowUnbound ?? false;
    this.scheduledWorkflowIds = new Set(options.scheduledWorkflowIds ?? []);
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

  async encode(payloads: Payload[], context?: SerializationContext): Promise<Payload[]> {
    const binding = bindingFor(context);
    return payloads.map((payload) => this.encodeOne(payload, binding));
  }

  async decode(payloads: Payload[], context?: SerializationContext): Promise<Payload[]> {
    const expected = this.enforceBinding ? bindingFor(context) : undefined;
    return payloads.map((payload) => this.decodeOne(payload, expected));
  }

  /** Encrypts `payload`, bound to `binding` when given (v2), unbound (v1) otherwise. */
  encodeOne(payload: Payload, binding?: PayloadBinding): Payload {
    const { id, key } = this.current;
    const bindingText = binding === undefined ? undefined : JSON.stringify(binding);
    const iv = randomBytes(IV_BYTES);
    const gcm = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    gcm.setAAD(aad(id, bindingText));
    const plain = ProtoPayload.encode(payload).finish();
    const body = Buffer.concat([gcm.update(plain), gcm.final()]);
    return {
      metadata: {
        encoding: Buffer.from(ENCODING),
        [KEY_ID_METADATA]: Buffer.from(id),
        ...(bindingText === undefined ? {} : { [BINDING_METADATA]: Buffer.from(bindingText) }),
      },
      data: Buffer.concat([iv, body, gcm.getAuthTag()]),
    };
  }

  /** Whether a payload bound to `bound` may be used where `expected` is being decoded. */
  private bindingMatches(bound: PayloadBinding, expected: PayloadBinding): boolean {
    if (bound.namespace !== expected.namespace) return false;
    if ('activityId' in expected) return 'activityId' in bound && bound.activityId === expected.activityId;
    if (!('workflowId' in bound)) return false;
    if (bound.workflowId === expected.workflowId) return true;
    // A schedule's run `<id>-<timestamp>`: its input (bound to `<id>`), a sibling run's result.
    const runOf = SCHEDULED_RUN.exec(expected.workflowId)?.[1];
    if (runOf === undefined || !this.scheduledWorkflowIds.has(runOf)) return false;
    return bound.workflowId === runOf || SCHEDULED_RUN.exec(bound.workflowId)?.[1] === runOf;
  }

  /** Decrypts `payload`; with `expected` (the worker, given a context) its binding must match. */
  decodeOne(payload: Payload, expected?: PayloadBinding): Payload {
    const encoding = text(payload.metadata?.encoding);
    if (encoding !== ENCODING) {
      if (!this.refusePlain || isServerCancellationMarker(payload)) return payload;
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
    const bindingText = text(payload.metadata?.[BINDING_METADATA]);
    const binding = parseBinding(bindingText);
    if (bindingText !== undefined && !binding) {
      throw new PayloadCodecError(
        `payload encrypted with key id "${keyId}" has an unreadable ${BINDING_METADATA}: it was modified`,
        keyId,
        'MALFORMED',
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
      gcm.setAAD(aad(keyId, bindingText));
      gcm.setAuthTag(data.subarray(data.length - TAG_BYTES));
      plain = Buffer.concat([gcm.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), gcm.final()]);
    } catch {
      throw new PayloadCodecError(
        `payload encrypted with key id "${keyId}" failed authentication: it was modified, or "${keyId}" names a different key here than where it was encrypted`,
        keyId,
        'AUTHENTICATION_FAILED',
      );
    }
    if (expected) this.checkBinding(keyId, binding, expected);
    const inner = ProtoPayload.decode(plain);
    return { metadata: inner.metadata, data: inner.data };
  }

  /** Throws unless a payload bound to `binding` (authenticated) may be used for `expected`. */
  private checkBinding(keyId: string, binding: PayloadBinding | undefined, expected: PayloadBinding): void {
    if (!binding) {
      if (this.allowUnbound) return;
      throw new PayloadCodecError(
        `refused a payload encrypted with key id "${keyId}" without a workflow binding, received by ${describeBinding(expected)}: it was written before payloads were bound to their workflow, or encoded without one (the codec server's POST /encode), and could have been copied from any history, so nothing of it runs. Set TEMPORAL_ALLOW_UNBOUND_PAYLOADS=true on the worker while workflows started before the upgrade are still open`,
        keyId,
        'UNBOUND',
      );
    }
    if (this.bindingMatches(binding, expected)) return;
    throw new PayloadCodecError(
      `refused a payload encrypted for ${describeBinding(binding)}, not for ${describeBinding(expected)} where it was received: it was copied from another workflow's history (readable without any key), so nothing of it runs. Start workflows through solar-iot's clients (API, CLI)`,
      keyId,
      'OTHER_WORKFLOW',
    );
  }
}
