import { sql } from 'drizzle-orm';
import {
  bigserial,
  boolean,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';

/** Lifecycle of a plant's IoT identity, mirrored into the `IotStatus` search attribute. */
export const IOT_STATUSES = [
  'disabled', // IoT switched off (graceful degradation); backfill provisions it later
  'pending',
  'provisioning',
  'awaiting-csr', // certificate mode device-csr: thing made, waiting for the device's CSR
  'active',
  'failed',
  'deprovisioning',
  'deprovisioned',
] as const;
export type IotStatus = (typeof IOT_STATUSES)[number];

export const plants = pgTable(
  'plants',
  {
    id: text('id').primaryKey(),
    name: text('name').notNull(),
    iotStatus: text('iot_status').$type<IotStatus>().notNull().default('pending'),
    thingName: text('thing_name'),
    thingArn: text('thing_arn'),
    certificateId: text('certificate_id'),
    certificateArn: text('certificate_arn'),
    policyName: text('policy_name'),
    ruleName: text('rule_name'),
    /**
     * Where the plant's key is made (PlantCertificateMode): `device-csr` is the device's choice and
     * lasts past a failed provision, so a re-provision, backfill or rotation never makes its key here.
     */
    certificateMode: text('certificate_mode').$type<'server' | 'device-csr'>().notNull().default('server'),
    lastError: text('last_error'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
    provisionedAt: timestamp('provisioned_at', { withTimezone: true }),
    deprovisionedAt: timestamp('deprovisioned_at', { withTimezone: true }),
  },
  (t) => [index('plants_iot_status_idx').on(t.iotStatus)],
);

export const CERTIFICATE_STATUSES = ['key-created', 'active', 'inactive', 'destroyed'] as const;
export type CertificateStatus = (typeof CERTIFICATE_STATUSES)[number];

/**
 * One row per private key we generated (or received from CreateKeysAndCertificate), or per CSR a
 * device sent (certificate mode device-csr): that row never holds a key, so a row with no key that
 * is not destroyed is a certificate whose key only its device has.
 * `requestId` is chosen by the workflow (derived from its run), so an activity retry finds
 * and reuses the key it stored before instead of minting a second certificate.
 */
export const certificates = pgTable(
  'certificates',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    requestId: text('request_id').notNull(),
    plantId: text('plant_id').notNull(),
    certificateId: text('certificate_id'),
    certificateArn: text('certificate_arn'),
    /** Encrypted like the key: the seed stores certificates encrypted, and a PEM in clear invites copying. */
    encryptedCertificatePem: text('encrypted_certificate_pem'),
    /** Output of encryptData(): versioned AES-256-GCM envelope, never the clear key. */
    encryptedPrivateKey: text('encrypted_private_key'),
    status: text('status').$type<CertificateStatus>().notNull().default('key-created'),
    /**
     * SHA-256 (hex) of the key's DER SubjectPublicKeyInfo: one key pair is one plant's, so a device
     * CSR with the key of another plant's certificate is refused (AWS certifies any key again).
     * Null for rows written before migration 0007.
     */
    publicKeySha256: text('public_key_sha256'),
    /** Set just before the CSR goes to AWS: a retry after this point must look for a lost certificate. */
    submittedAt: timestamp('submitted_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    activatedAt: timestamp('activated_at', { withTimezone: true }),
    exportedAt: timestamp('exported_at', { withTimezone: true }),
    destroyedAt: timestamp('destroyed_at', { withTimezone: true }),
  },
  (t) => [
    uniqueIndex('certificates_request_id_idx').on(t.requestId),
    uniqueIndex('certificates_certificate_id_idx').on(t.certificateId),
    index('certificates_plant_id_idx').on(t.plantId),
    index('certificates_public_key_sha256_idx').on(t.publicKeySha256),
  ],
);

/**
 * Every telemetry message accepted, once: layer 2 of deduplication.
 *
 * Partitioned by day on `timestamp` (drizzle cannot express it: migration 0004 and
 * src/db/partitions.ts). A unique index of a partitioned table must hold the partition key, so both
 * dedup indexes carry `timestamp`, and lose nothing by it: the hash is computed from the timestamp,
 * and a redelivered SQS message (same message id) has the same body, hence the same timestamp. `id`
 * is a plain column, not a primary key: nothing looks rows up by it.
 */
export const rawMqttData = pgTable(
  'raw_mqtt_data',
  {
    id: bigserial('id', { mode: 'number' }).notNull(),
    messageId: text('message_id').notNull(),
    /** sha256 of plant id, device id and timestamp: the same reading under a new message id. */
    messageHash: text('message_hash').notNull(),
    plantId: text('plant_id').notNull(),
    deviceId: text('device_id').notNull(),
    timestamp: timestamp('timestamp', { withTimezone: true }).notNull(),
    payload: jsonb('payload').notNull(),
    receivedAt: timestamp('received_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('raw_mqtt_data_message_id_idx').on(t.messageId, t.timestamp),
    uniqueIndex('raw_mqtt_data_message_hash_idx').on(t.messageHash, t.timestamp),
  ],
);

/**
 * One value per (plant, metric, instant, device): layer 3, inserted ON CONFLICT DO NOTHING. The plant
 * is part of the key because device names repeat across plants (`inverter-01` in every plant); the
 * key's order serves "one plant, one metric, a time range" (optionally one device), and "one plant, a
 * time range" through a skip scan over the few metrics (PostgreSQL 18), so no second index slows the
 * writes. Partitioned by month on `timestamp` (migration 0004, src/db/partitions.ts).
 */
export const processedData = pgTable(
  'processed_data',
  {
    deviceId: text('device_id').notNull(),
    tagId: text('tag_id').notNull(),
    timestamp: timestamp('timestamp', { withTimezone: true }).notNull(),
    value: doublePrecision('value').notNull(),
    plantId: text('plant_id').notNull(),
    insertedAt: timestamp('inserted_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.plantId, t.tagId, t.timestamp, t.deviceId] })],
);

/**
 * When each device of each plant last sent an accepted reading (the greatest reading timestamp,
 * device clock): upserted with GREATEST by the ingest write path in the readings' transaction,
 * one statement per batch. Silent plants and GET /plants/{id} read it instead of processed_data.
 */
export const deviceLastReading = pgTable(
  'device_last_reading',
  {
    plantId: text('plant_id').notNull(),
    deviceId: text('device_id').notNull(),
    lastReadingAt: timestamp('last_reading_at', { withTimezone: true }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.plantId, t.deviceId] })],
);

/**
 * Messages that failed validation, kept whole with the reason: nothing is dropped silently. One
 * row per SQS message id (inserted ON CONFLICT DO NOTHING): a redelivered poison message, or a
 * batch retried after its COMMIT's answer was lost, does not add a second row. Rows without a
 * message id are never merged.
 */
export const quarantine = pgTable(
  'quarantine',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    messageId: text('message_id'),
    /** The body as received; an oversized one only as its first bytes (`bodyTruncated`). */
    body: text('body').notNull(),
    reason: text('reason').notNull(),
    /** Size in bytes and sha256 (hex) of the whole body as received. */
    bodyBytes: integer('body_bytes').notNull(),
    bodySha256: text('body_sha256').notNull(),
    bodyTruncated: boolean('body_truncated').notNull().default(false),
    receivedAt: timestamp('received_at', { withTimezone: true }).notNull().default(sql`now()`),
  },
  (t) => [
    uniqueIndex('quarantine_message_id_idx').on(t.messageId),
    // Expiry (INGEST_QUARANTINE_RETENTION_DAYS) deletes by age.
    index('quarantine_received_at_idx').on(t.receivedAt),
  ],
);
