DROP INDEX `readings_device_dedupe`;--> statement-breakpoint
CREATE UNIQUE INDEX `readings_dedupe_device` ON `readings` (`dedupe_key`,`device_id`);