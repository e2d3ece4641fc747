/**
 * Re-encrypts every stored private key and certificate PEM that is not under the current
 * ENCRYPTION_KEY in the current envelope version: `solar-iot reencrypt-keys
 * [--batch-size 50] [--dry-run]`. "Old key" below means either: a value under a previous key, or a
 * v1 envelope under the current key (v1 runs PBKDF2 per value; this command migrates it to v2).
 *
 * Key rotation, in order:
 *   1. Deploy workers with ENCRYPTION_KEY=<new> and ENCRYPTION_KEYS_PREVIOUS=<old> (new values are
 *      sealed with the new key, old ones still open).
 *   2. Run this command (as often as needed: it only touches what is still under an old key).
 *   3. When it reports 0 remaining, drop the old key from ENCRYPTION_KEYS_PREVIOUS, unless the
 *      lines on Temporal payloads below say a codec key derived from it is still needed.
 *
 * Temporal payloads: with TEMPORAL_CODEC_KEYS (production, and `npm start` from .data/codec.keys)
 * the codec keys rotate on their own and dropping an old ENCRYPTION_KEY affects no history. With
 * derived codec keys (TEMPORAL_CODEC_KEYS unset), payloads written under `ek-<old fingerprint>`
 * need the old key; the command says so, and with TEMPORAL_ADDRESS set lists the open workflows
 * and schedules under each codec key id (key-usage.ts).
 *
 * Each batch is one transaction over rows locked `FOR UPDATE SKIP LOCKED`, so it never waits for
 * or overwrites a row an activity is writing; a row skipped that way is left for the next run.
 * Interrupting (Ctrl-C) finishes the batch in flight and stops; a kill rolls it back. Either way
 * running it again resumes. A value that cannot be decrypted (unknown key, tampered) is reported
 * by row and left untouched.
 */
import { Client, Connection } from '@temporalio/client';
import { and, asc, count, gt, isNotNull, not, or, type SQL, sql } from 'drizzle-orm';
import { codecKeyUsage } from '../codec/key-usage.js';
import { type EncryptionKeys, loadCodecKeys } from '../codec/keys.js';
import { parseCodecKeys } from '../codec/settings.js';
import type { Config } from '../config/index.js';
import { type Cipher, createCipher, currentEnvelopePrefix, DecryptionError } from '../crypto/encryption.js';
import type { Db } from '../db/client.js';
import { certificates } from '../db/schema.js';

export interface ReencryptFailure {
  id: number;
  requestId: string;
  column: 'encrypted_private_key' | 'encrypted_certificate_pem';
  /** Why, without the value: e.g. "encrypted with key 0123..., which is neither ...". */
  reason: string;
}

export interface ReencryptReport {
  currentKeyFingerprint: string;
  /** Rows under an old key (or in an old envelope version) when the run started. */
  found: number;
  /** Rows rewritten under the current key, in the current envelope version. */
  rowsReencrypted: number;
  /** Encrypted values rewritten (a row holds up to two). */
  valuesReencrypted: number;
  batches: number;
  /** Rows left as they were because a value in them could not be decrypted. */
  rowsFailed: number;
  failures: ReencryptFailure[];
  /** Rows still under an old key or version at the end (failed, or locked meanwhile). */
  remaining: number;
  interrupted: boolean;
}

export interface ReencryptOptions {
  db: Db;
  cipher: Cipher;
  /** Rows per transaction (default 50): short locks, and little work lost on a kill. */
  batchSize?: number;
  /** Aborting stops after the batch in flight. */
  signal?: AbortSignal;
  /** Stop after this many batches (tests simulate an interruption with it). */
  maxBatches?: number;
  dryRun?: boolean;
  /** Once the rows under an old key are counted (before the first batch). */
  onStart?: (found: number) => void;
  onBatch?: (batch: { number: number; rows: number; values: number; failed: number }) => void;
}

/** Not under the current key in the current envelope version (`v2:<fingerprint>:`). */
function underOldKey(fingerprint: string): SQL {
  const current = `${currentEnvelopePrefix(fingerprint)}%`;
  return or(
    and(
      isNotNull(certificates.encryptedPrivateKey),
      not(sql`${certificates.encryptedPrivateKey} like ${current}`),
    ),
    and(
      isNotNull(certificates.encryptedCertificatePem),
      not(sql`${certificates.encryptedCertificatePem} like ${current}`),
    ),
  ) as SQL;
}

async function countUnderOldKey(db: Db, fingerprint: string): Promise<number> {
  const [row] = await db.select({ n: count() }).from(certificates).where(underOldKey(fingerprint));
  return row?.n ?? 0;
}

function reasonOf(error: unknown): string {
  if (error instanceof DecryptionError) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

export async function reencryptStoredKeys(options: ReencryptOptions): Promise<ReencryptReport> {
  const { db, cipher } = options;
  const batchSize = options.batchSize ?? 50;
  const fingerprint = await cipher.currentKeyFingerprint();
  const report: ReencryptReport = {
    currentKeyFingerprint: fingerprint,
    found: await countUnderOldKey(db, fingerprint),
    rowsReencrypted: 0,
    valuesReencrypted: 0,
    batches: 0,
    rowsFailed: 0,
    failures: [],
    remaining: 0,
    interrupted: false,
  };
  if (options.dryRun) {
    report.remaining = report.found;
    return report;
  }
  options.onStart?.(report.found);

  // Keyset over the id: rows that fail or are locked are passed over, so the loop always ends.
  let lastId = 0;
  for (;;) {
    if (
      options.signal?.aborted ||
      (options.maxBatches !== undefined && report.batches >= options.maxBatches)
    ) {
      report.interrupted = true;
      break;
    }
    const batch = await db.transaction(async (tx) => {
      const rows = await tx
        .select({
          id: certificates.id,
          requestId: certificates.requestId,
          encryptedPrivateKey: certificates.encryptedPrivateKey,
          encryptedCertificatePem: certificates.encryptedCertificatePem,
        })
        .from(certificates)
        .where(and(gt(certificates.id, lastId), underOldKey(fingerprint)))
        .orderBy(asc(certificates.id))
        .limit(batchSize)
        .for('update', { skipLocked: true });
      let rowsDone = 0;
      let values = 0;
      let failed = 0;
      for (const row of rows) {
        const update: { encryptedPrivateKey?: string; encryptedCertificatePem?: string } = {};
        let rowFailed = false;
        for (const [field, column] of [
          ['encryptedPrivateKey', 'encrypted_private_key'],
          ['encryptedCertificatePem', 'encrypted_certificate_pem'],
        ] as const) {
          const value = row[field];
          if (value === null || value.startsWith(currentEnvelopePrefix(fingerprint))) continue;
          try {
            update[field] = await cipher.reencrypt(value);
          } catch (error) {
            rowFailed = true;
            report.failures.push({ id: row.id, requestId: row.requestId, column, reason: reasonOf(error) });
          }
        }
        if (rowFailed) {
          failed++;
          continue; // all or nothing per row: never half-rotated
        }
        await tx.update(certificates).set(update).where(sql`${certificates.id} = ${row.id}`);
        rowsDone++;
        values += Object.keys(update).length;
      }
      return { rows, rowsDone, values, failed };
    });
    if (batch.rows.length === 0) break;
    lastId = batch.rows[batch.rows.length - 1]?.id ?? lastId;
    report.batches++;
    report.rowsReencrypted += batch.rowsDone;
    report.valuesReencrypted += batch.values;
    report.rowsFailed += batch.failed;
    options.onBatch?.({
      number: report.batches,
      rows: batch.rowsDone,
      values: batch.values,
      failed: batch.failed,
    });
  }
  report.remaining = await countUnderOldKey(db, fingerprint);
  return report;
}

const listed = (ids: string[]) =>
  ids.length === 0 ? '' : ` (${ids.slice(0, 5).join(', ')}${ids.length > 5 ? `, +${ids.length - 5}` : ''})`;

/**
 * What of Temporal still needs which key: one line per fact, never a key. `client` (raw, no
 * codec) lists the open workflows and schedules per codec key id; without it, only the key facts.
 */
export async function codecKeyLines(options: {
  env: Record<string, string | undefined>;
  encryption: EncryptionKeys;
  client?: Client | undefined;
}): Promise<string[]> {
  const lines: string[] = [];
  const { keys, source } = await loadCodecKeys(parseCodecKeys(options.env), options.encryption);
  const configured = new Set(keys.map((k) => k.id));
  const derivedFromPrevious = new Set<string>();
  if (source === 'TEMPORAL_CODEC_KEYS') {
    lines.push(
      `Temporal payloads: codec keys from TEMPORAL_CODEC_KEYS (${[...configured].join(', ')}), independent of ENCRYPTION_KEY: dropping an old ENCRYPTION_KEY leaves every history readable`,
    );
  } else {
    const { currentKey, previousKeys } = options.encryption;
    const fingerprints = await createCipher({
      currentKey: currentKey ?? '',
      previousKeys: [...previousKeys],
    }).keyFingerprints();
    for (const fp of fingerprints.slice(1)) {
      derivedFromPrevious.add(`ek-${fp}`);
      lines.push(
        `Temporal payloads: codec key ek-${fp} is derived from the previous ENCRYPTION_KEY ${fp}; open workflows, schedules and retained histories written under it cannot be read without that key. Keep it in ENCRYPTION_KEYS_PREVIOUS until they are gone, or move to TEMPORAL_CODEC_KEYS with ek-${fp} as a decrypt-only entry`,
      );
    }
  }
  if (!options.client) {
    lines.push(
      'Temporal payloads: set TEMPORAL_ADDRESS to list the open workflows and schedules under each codec key',
    );
    return lines;
  }
  const report = await codecKeyUsage(options.client);
  for (const u of report.usage) {
    const note = derivedFromPrevious.has(u.keyId)
      ? ' (derived from a previous ENCRYPTION_KEY: still needed)'
      : configured.has(u.keyId)
        ? ''
        : ' (NOT configured here: these cannot be decoded)';
    lines.push(
      `codec key ${u.keyId}${note}: ${u.workflows.length} open workflows${listed(u.workflows)}, ${u.schedules.length} schedules${listed(u.schedules)}`,
    );
  }
  const { workflows, schedules } = report.unbound;
  lines.push(
    `payloads not bound to their workflow (written before the binding): ${workflows.length} open workflows${listed(workflows)}, ${schedules.length} schedules${listed(schedules)}; ${workflows.length + schedules.length ? 'the worker runs them only with TEMPORAL_ALLOW_UNBOUND_PAYLOADS=true (schedules: create them again with a current client)' : 'TEMPORAL_ALLOW_UNBOUND_PAYLOADS can stay unset'}`,
  );
  lines.push(
    `scanned ${report.workflowsScanned} open workflows${report.truncated ? ' (more not scanned)' : ''} and ${report.schedulesScanned} schedules; closed histories in retention are not scanned`,
  );
  return lines;
}

/** What of Temporal (open workflows, schedules) needs which codec key: lines for the operator. */
export async function temporalKeyReport(
  config: Config,
  env: Record<string, string | undefined>,
  out: (line: string) => void,
): Promise<void> {
  let connection: Connection | undefined;
  try {
    if (env.TEMPORAL_ADDRESS)
      connection = await Connection.connect({ ...config.temporal.connectionOptions, connectTimeout: 5000 });
    const client = connection && new Client({ connection, namespace: config.temporal.namespace });
    for (const line of await codecKeyLines({ env, encryption: config.encryption, client })) out(line);
  } catch (error) {
    out(`Temporal payloads: could not check codec keys: ${(error as Error).message.split('\n')[0]}`);
  } finally {
    await connection?.close();
  }
}
