CREATE TABLE "certificates" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"request_id" text NOT NULL,
	"plant_id" text NOT NULL,
	"certificate_id" text,
	"certificate_arn" text,
	"encrypted_certificate_pem" text,
	"encrypted_private_key" text,
	"status" text DEFAULT 'key-created' NOT NULL,
	"submitted_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"activated_at" timestamp with time zone,
	"exported_at" timestamp with time zone,
	"destroyed_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "plants" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"iot_status" text DEFAULT 'pending' NOT NULL,
	"thing_name" text,
	"thing_arn" text,
	"certificate_id" text,
	"certificate_arn" text,
	"policy_name" text,
	"rule_name" text,
	"last_error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"provisioned_at" timestamp with time zone,
	"deprovisioned_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "processed_data" (
	"device_id" text NOT NULL,
	"tag_id" text NOT NULL,
	"timestamp" timestamp with time zone NOT NULL,
	"value" double precision NOT NULL,
	"plant_id" text NOT NULL,
	"inserted_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "processed_data_device_id_tag_id_timestamp_pk" PRIMARY KEY("device_id","tag_id","timestamp")
);
--> statement-breakpoint
CREATE TABLE "quarantine" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"message_id" text,
	"body" text NOT NULL,
	"reason" text NOT NULL,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "raw_mqtt_data" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"message_id" text NOT NULL,
	"message_hash" text NOT NULL,
	"plant_id" text NOT NULL,
	"device_id" text NOT NULL,
	"timestamp" timestamp with time zone NOT NULL,
	"payload" jsonb NOT NULL,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX "certificates_request_id_idx" ON "certificates" USING btree ("request_id");--> statement-breakpoint
CREATE UNIQUE INDEX "certificates_certificate_id_idx" ON "certificates" USING btree ("certificate_id");--> statement-breakpoint
CREATE INDEX "certificates_plant_id_idx" ON "certificates" USING btree ("plant_id");--> statement-breakpoint
CREATE INDEX "plants_iot_status_idx" ON "plants" USING btree ("iot_status");--> statement-breakpoint
CREATE INDEX "processed_data_plant_idx" ON "processed_data" USING btree ("plant_id","timestamp");--> statement-breakpoint
CREATE UNIQUE INDEX "raw_mqtt_data_message_id_idx" ON "raw_mqtt_data" USING btree ("message_id");--> statement-breakpoint
CREATE UNIQUE INDEX "raw_mqtt_data_message_hash_idx" ON "raw_mqtt_data" USING btree ("message_hash");