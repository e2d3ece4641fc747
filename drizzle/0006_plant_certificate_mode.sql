-- Where a plant's key is made, kept with the plant: a device-csr plant stays one after a failed
-- provision. Plants already certified from a device's CSR (a live certificate row without a key)
-- are device-csr plants.
ALTER TABLE "plants" ADD COLUMN "certificate_mode" text DEFAULT 'server' NOT NULL;--> statement-breakpoint
UPDATE "plants" SET "certificate_mode" = 'device-csr' WHERE "certificate_id" IN (
  SELECT "certificate_id" FROM "certificates"
  WHERE "encrypted_private_key" IS NULL AND "destroyed_at" IS NULL AND "certificate_id" IS NOT NULL);
