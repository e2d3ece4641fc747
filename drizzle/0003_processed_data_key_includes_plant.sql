-- The key includes the plant: device names repeat across plants (`inverter-01` in every plant), and
-- with (device_id, tag_id, timestamp) a second plant's reading of the same instant was dropped as a
-- duplicate. Every existing row is kept: the old key was unique, so the wider one is too.
ALTER TABLE "processed_data" DROP CONSTRAINT "processed_data_device_id_tag_id_timestamp_pk";--> statement-breakpoint
ALTER TABLE "processed_data" ADD CONSTRAINT "processed_data_plant_id_tag_id_timestamp_device_id_pk" PRIMARY KEY("plant_id","tag_id","timestamp","device_id");