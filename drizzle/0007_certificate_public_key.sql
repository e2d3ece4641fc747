-- The SHA-256 of each certificate's public key: a device CSR with the key of another plant's
-- certificate is refused (one key pair authenticates one plant; AWS IoT certifies a key again as
-- often as asked). Rows written before this migration have none: their keys are not compared.
ALTER TABLE "certificates" ADD COLUMN "public_key_sha256" text;--> statement-breakpoint
CREATE INDEX "certificates_public_key_sha256_idx" ON "certificates" USING btree ("public_key_sha256");