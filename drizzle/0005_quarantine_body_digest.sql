-- An oversized body is quarantined as its first bytes with the size and sha256 of the whole body
-- (not whole: a flood of 1 MiB messages must not fill the table). Existing rows hold their whole
-- body: their size and digest are computed from it, so every row is kept and described alike.
ALTER TABLE "quarantine" ADD COLUMN "body_bytes" integer;--> statement-breakpoint
ALTER TABLE "quarantine" ADD COLUMN "body_sha256" text;--> statement-breakpoint
ALTER TABLE "quarantine" ADD COLUMN "body_truncated" boolean DEFAULT false NOT NULL;--> statement-breakpoint
UPDATE "quarantine" SET "body_bytes" = octet_length("body"),
  "body_sha256" = encode(sha256(convert_to("body", 'UTF8')), 'hex');--> statement-breakpoint
ALTER TABLE "quarantine" ALTER COLUMN "body_bytes" SET NOT NULL;--> statement-breakpoint
ALTER TABLE "quarantine" ALTER COLUMN "body_sha256" SET NOT NULL;--> statement-breakpoint
-- Expiry (INGEST_QUARANTINE_RETENTION_DAYS) deletes by age.
CREATE INDEX "quarantine_received_at_idx" ON "quarantine" USING btree ("received_at");
