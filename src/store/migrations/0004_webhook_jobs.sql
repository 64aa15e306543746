CREATE TABLE `webhook_jobs` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`webhook_id` text NOT NULL,
	`outbox_seq` integer NOT NULL,
	`attempts` integer NOT NULL,
	`next_at` integer NOT NULL,
	`state` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `webhook_jobs_state_next` ON `webhook_jobs` (`state`,`next_at`);