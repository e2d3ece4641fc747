-- Telemetry partitioned by time (PostgreSQL declarative range partitioning on "timestamp", UTC):
-- processed_data by month (kept for years), raw_mqtt_data by day (kept for weeks). Converts the
-- tables in place and keeps every row: rename the old table, create the partitioned one under the
-- old name with a default partition and one partition per period the old rows cover, copy the
-- rows, drop the old table. Partitions ahead and retention: src/db/partitions.ts (the consumer).
-- Partition names must match src/db/partitions.ts: processed_data_pYYYY_MM, raw_mqtt_data_pYYYY_MM_DD.
-- Runs in the migration's one transaction: the tables are locked while their rows are copied.

ALTER TABLE "processed_data" RENAME TO "processed_data_unpartitioned";--> statement-breakpoint
ALTER TABLE "processed_data_unpartitioned" RENAME CONSTRAINT "processed_data_plant_id_tag_id_timestamp_device_id_pk" TO "processed_data_unpartitioned_pk";--> statement-breakpoint
-- (plant_id, timestamp) is served by the primary key (plant_id, tag_id, timestamp, device_id).
DROP INDEX "processed_data_plant_idx";--> statement-breakpoint
CREATE TABLE "processed_data" (
	"device_id" text NOT NULL,
	"tag_id" text NOT NULL,
	"timestamp" timestamp with time zone NOT NULL,
	"value" double precision NOT NULL,
	"plant_id" text NOT NULL,
	"inserted_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "processed_data_plant_id_tag_id_timestamp_device_id_pk" PRIMARY KEY("plant_id","tag_id","timestamp","device_id")
) PARTITION BY RANGE ("timestamp");--> statement-breakpoint
CREATE TABLE "processed_data_default" PARTITION OF "processed_data" DEFAULT;--> statement-breakpoint
DO $$
DECLARE
	m timestamp;
BEGIN
	FOR m IN SELECT DISTINCT date_trunc('month', "timestamp" AT TIME ZONE 'UTC') FROM "processed_data_unpartitioned" LOOP
		EXECUTE format(
			'CREATE TABLE %I PARTITION OF "processed_data" FOR VALUES FROM (%L) TO (%L)',
			'processed_data_p' || to_char(m, 'YYYY_MM'),
			to_char(m, 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
			to_char(m + interval '1 month', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'));
	END LOOP;
END
$$;--> statement-breakpoint
INSERT INTO "processed_data" ("device_id", "tag_id", "timestamp", "value", "plant_id", "inserted_at")
SELECT "device_id", "tag_id", "timestamp", "value", "plant_id", "inserted_at" FROM "processed_data_unpartitioned";--> statement-breakpoint
DROP TABLE "processed_data_unpartitioned";--> statement-breakpoint

-- raw_mqtt_data: the unique indexes of a partitioned table must hold the partition key. Both
-- deduplicate as before: message_hash is computed from the timestamp (same hash, same timestamp),
-- and a redelivered SQS message (same message id) has the same body, so the same timestamp. The
-- id sequence carries on; id stays NOT NULL but is no longer a key (nothing looks rows up by it).
ALTER TABLE "raw_mqtt_data" RENAME TO "raw_mqtt_data_unpartitioned";--> statement-breakpoint
ALTER TABLE "raw_mqtt_data_unpartitioned" RENAME CONSTRAINT "raw_mqtt_data_pkey" TO "raw_mqtt_data_unpartitioned_pkey";--> statement-breakpoint
ALTER INDEX "raw_mqtt_data_message_id_idx" RENAME TO "raw_mqtt_data_unpartitioned_message_id_idx";--> statement-breakpoint
ALTER INDEX "raw_mqtt_data_message_hash_idx" RENAME TO "raw_mqtt_data_unpartitioned_message_hash_idx";--> statement-breakpoint
CREATE TABLE "raw_mqtt_data" (
	"id" bigint DEFAULT nextval('raw_mqtt_data_id_seq') NOT NULL,
	"message_id" text NOT NULL,
	"message_hash" text NOT NULL,
	"plant_id" text NOT NULL,
	"device_id" text NOT NULL,
	"timestamp" timestamp with time zone NOT NULL,
	"payload" jsonb NOT NULL,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL
) PARTITION BY RANGE ("timestamp");--> statement-breakpoint
-- Before the old table goes: a sequence owned by a dropped column is dropped with it.
ALTER SEQUENCE "raw_mqtt_data_id_seq" OWNED BY "raw_mqtt_data"."id";--> statement-breakpoint
CREATE UNIQUE INDEX "raw_mqtt_data_message_id_idx" ON "raw_mqtt_data" USING btree ("message_id","timestamp");--> statement-breakpoint
CREATE UNIQUE INDEX "raw_mqtt_data_message_hash_idx" ON "raw_mqtt_data" USING btree ("message_hash","timestamp");--> statement-breakpoint
CREATE TABLE "raw_mqtt_data_default" PARTITION OF "raw_mqtt_data" DEFAULT;--> statement-breakpoint
DO $$
DECLARE
	d timestamp;
BEGIN
	FOR d IN SELECT DISTINCT date_trunc('day', "timestamp" AT TIME ZONE 'UTC') FROM "raw_mqtt_data_unpartitioned" LOOP
		EXECUTE format(
			'CREATE TABLE %I PARTITION OF "raw_mqtt_data" FOR VALUES FROM (%L) TO (%L)',
			'raw_mqtt_data_p' || to_char(d, 'YYYY_MM_DD'),
			to_char(d, 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
			to_char(d + interval '1 day', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'));
	END LOOP;
END
$$;--> statement-breakpoint
INSERT INTO "raw_mqtt_data" ("id", "message_id", "message_hash", "plant_id", "device_id", "timestamp", "payload", "received_at")
SELECT "id", "message_id", "message_hash", "plant_id", "device_id", "timestamp", "payload", "received_at" FROM "raw_mqtt_data_unpartitioned";--> statement-breakpoint
DROP TABLE "raw_mqtt_data_unpartitioned";
