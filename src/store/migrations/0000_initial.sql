CREATE TABLE `devices` (
	`id` text PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`serial` text,
	`patient_id` text,
	`token_hash` text NOT NULL,
	`created_at` integer NOT NULL,
	`assigned_at` integer,
	`token_rotated_at` integer,
	FOREIGN KEY (`patient_id`) REFERENCES `patients`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `devices_token_hash_unique` ON `devices` (`token_hash`);--> statement-breakpoint
CREATE TABLE `patients` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`birth_date` text,
	`timezone` text DEFAULT 'UTC' NOT NULL,
	`external_id` text,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `patients_external_id_unique` ON `patients` (`external_id`);--> statement-breakpoint
CREATE TABLE `readings` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
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
CREATE UNIQUE INDEX `readings_id_unique` ON `readings` (`id`);--> statement-breakpoint
CREATE UNIQUE INDEX `readings_device_dedupe` ON `readings` (`device_id`,`dedupe_key`);--> statement-breakpoint
CREATE INDEX `readings_patient_type_time` ON `readings` (`patient_id`,`type`,`measured_at`);--> statement-breakpoint
CREATE TABLE `rejections` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`device_id` text NOT NULL,
	`received_at` integer NOT NULL,
	`transport` text NOT NULL,
	`reason` text NOT NULL,
	`payload` text NOT NULL,
	`errors` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `rejections_device_time` ON `rejections` (`device_id`,`received_at`);