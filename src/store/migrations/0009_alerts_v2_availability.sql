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
CREATE TABLE `on_call_shifts` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`clinician_id` text NOT NULL,
	`from` integer NOT NULL,
	`until` integer NOT NULL,
	FOREIGN KEY (`clinician_id`) REFERENCES `clinicians`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `on_call_shifts_until` ON `on_call_shifts` (`until`);--> statement-breakpoint
ALTER TABLE `alerts` ADD `episode` integer DEFAULT 1 NOT NULL;--> statement-breakpoint
ALTER TABLE `alerts` ADD `reopened_at` integer;--> statement-breakpoint
ALTER TABLE `alerts` ADD `reopen_reason` text;--> statement-breakpoint
ALTER TABLE `alerts` ADD `late` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `alerts` ADD `observed` text;--> statement-breakpoint
ALTER TABLE `escalations` ADD `repeat` integer DEFAULT 0 NOT NULL;