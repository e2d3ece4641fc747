-- When each device of each plant last sent an accepted reading; the ingest write path keeps it
-- current (GREATEST, in the readings' transaction). Filled here from the readings already stored.
CREATE TABLE "device_last_reading" (
	"plant_id" text NOT NULL,
	"device_id" text NOT NULL,
	"last_reading_at" timestamp with time zone NOT NULL,
	CONSTRAINT "device_last_reading_plant_id_device_id_pk" PRIMARY KEY("plant_id","device_id")
);
--> statement-breakpoint
INSERT INTO "device_last_reading" ("plant_id", "device_id", "last_reading_at")
SELECT "plant_id", "device_id", max("timestamp") FROM "processed_data" GROUP BY "plant_id", "device_id";
