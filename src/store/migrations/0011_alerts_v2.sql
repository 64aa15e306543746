CREATE TABLE `away_periods` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`clinician_id` text NOT NULL,
	`from` integer NOT NULL,
	`until` integer NOT NULL,
	`note` text,
	FOREIGN KEY (`clinician_id`) REFERENCES `clinicians`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `away_periods_clinician` ON `away_periods` (`clinician_id`,`until`);--> statement-breakpoint
CREATE TABLE `device_clocks` (
	`device_id` text PRIMARY KEY NOT NULL,
	`current_at` integer,
	`stale_run` integer NOT NULL,
	`off_since` integer
);
--> statement-breakpoint
CREATE TABLE `on_call_shifts` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`clinician_id` text NOT NULL,
	`from` integer NOT NULL,
	`until` integer NOT NULL,
	FOREIGN KEY (`clinician_id`) REFERENCES `clinicians`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `on_call_shifts_until` ON `on_call_shifts` (`until`);--> statement-breakpoint
CREATE TABLE `patient_status_changes` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`patient_id` text NOT NULL,
	`version` integer NOT NULL,
	`status` text NOT NULL,
	`until` integer,
	`reason` text,
	`changed_by` text NOT NULL,
	`changed_at` integer NOT NULL,
	FOREIGN KEY (`patient_id`) REFERENCES `patients`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `patient_status_changes_version` ON `patient_status_changes` (`patient_id`,`version`);--> statement-breakpoint
CREATE TABLE `rule_quiet` (
	`patient_id` text NOT NULL,
	`rule_id` text NOT NULL,
	`until` integer NOT NULL,
	`set_by` text NOT NULL,
	`set_at` integer NOT NULL,
	PRIMARY KEY(`patient_id`, `rule_id`),
	FOREIGN KEY (`patient_id`) REFERENCES `patients`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
ALTER TABLE `alerts` ADD `episode` integer DEFAULT 1 NOT NULL;--> statement-breakpoint
ALTER TABLE `alerts` ADD `reopened_at` integer;--> statement-breakpoint
ALTER TABLE `alerts` ADD `reopen_reason` text;--> statement-breakpoint
ALTER TABLE `alerts` ADD `late` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `alerts` ADD `observed` text;--> statement-breakpoint
ALTER TABLE `deliveries` ADD `round` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `deliveries` ADD `repeat` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `escalations` ADD `repeat` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `escalations` ADD `round` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `escalations` ADD `started_at` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `patients` ADD `status` text DEFAULT 'active' NOT NULL;--> statement-breakpoint
ALTER TABLE `patients` ADD `status_until` integer;--> statement-breakpoint
ALTER TABLE `patients` ADD `status_changed_at` integer;
--> statement-breakpoint
-- Alerts left open after the last tier (v1 stopped there) go on to the on-call tier and repeats at once.
UPDATE `escalations` SET `state` = 'pending', `due_at` = CAST(strftime('%s', 'now') AS INTEGER) * 1000
  WHERE `state` = 'done' AND `alert_id` IN (SELECT `id` FROM `alerts` WHERE `status` = 'open');--> statement-breakpoint
-- Acknowledged alerts whose condition still holds: their acknowledgement expires after the default timeout.
UPDATE `escalations` SET `state` = 'acknowledged', `due_at` = (
    SELECT `acknowledged_at` + CASE `severity` WHEN 'critical' THEN 3600000 ELSE 86400000 END
    FROM `alerts` WHERE `alerts`.`id` = `escalations`.`alert_id`)
  WHERE `state` = 'cancelled' AND `alert_id` IN (
    SELECT `id` FROM `alerts` WHERE `status` = 'acknowledged' AND `active` = 1 AND `acknowledged_at` IS NOT NULL);
