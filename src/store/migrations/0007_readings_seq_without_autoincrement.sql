PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_readings` (
	`seq` integer PRIMARY KEY NOT NULL,
	`id` text NOT NULL,
	`device_id` text NOT NULL,
	`patient_id` text NOT NULL,
	`type` text NOT NULL,
	`measured_at` integer NOT NULL,
	`received_at` integer NOT NULL,
	`systolic` real,
	`diastolic` real,
	`pulse` real,
	`value` real,
	`unit` text,
	`message_id` text,
	`dedupe_key` text NOT NULL
);
--> statement-breakpoint
INSERT INTO `__new_readings`("seq", "id", "device_id", "patient_id", "type", "measured_at", "received_at", "systolic", "diastolic", "pulse", "value", "unit", "message_id", "dedupe_key") SELECT "seq", "id", "device_id", "patient_id", "type", "measured_at", "received_at", "systolic", "diastolic", "pulse", "value", "unit", "message_id", "dedupe_key" FROM `readings`;--> statement-breakpoint
DROP TABLE `readings`;--> statement-breakpoint
ALTER TABLE `__new_readings` RENAME TO `readings`;--> statement-breakpoint
PRAGMA foreign_keys=ON;--> statement-breakpoint
CREATE UNIQUE INDEX `readings_device_dedupe` ON `readings` (`device_id`,`dedupe_key`);--> statement-breakpoint
CREATE INDEX `readings_patient_type_time` ON `readings` (`patient_id`,`type`,`measured_at`);