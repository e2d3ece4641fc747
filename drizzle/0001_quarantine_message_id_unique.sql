-- One quarantine row per SQS message id. Before this index, a poison message delivered twice (a
-- standard queue may; or a batch retried after its COMMIT's answer was lost) could get two rows:
-- keep the first of each.
DELETE FROM "quarantine" AS q USING "quarantine" AS kept
 WHERE q."message_id" = kept."message_id" AND q."id" > kept."id";--> statement-breakpoint
CREATE UNIQUE INDEX "quarantine_message_id_idx" ON "quarantine" USING btree ("message_id");
