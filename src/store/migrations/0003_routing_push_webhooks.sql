CREATE TABLE `deliveries` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`alert_id` text NOT NULL,
	`event` text NOT NULL,
	`channel` text NOT NULL,
	`tier` integer,
	`clinician_id` text,
	`target_id` text NOT NULL,
	`status` text NOT NULL,
	`http_status` integer,
	`attempt` integer NOT NULL,
	`error` text,
	`at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `deliveries_alert` ON `deliveries` (`alert_id`,`seq`);--> statement-breakpoint
CREATE TABLE `escalations` (
	`alert_id` text PRIMARY KEY NOT NULL,
	`next_tier` integer NOT NULL,
	`due_at` integer NOT NULL,
	`state` text NOT NULL,
	`reached_anyone` integer NOT NULL,
	`unreachable` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `escalations_state_due` ON `escalations` (`state`,`due_at`);--> statement-breakpoint
CREATE TABLE `outbox_cursors` (
	`name` text PRIMARY KEY NOT NULL,
	`seq` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `push_subscriptions` (
	`id` text PRIMARY KEY NOT NULL,
	`clinician_id` text NOT NULL,
	`endpoint` text NOT NULL,
	`p256dh` text NOT NULL,
	`auth` text NOT NULL,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`clinician_id`) REFERENCES `clinicians`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `push_subscriptions_endpoint_unique` ON `push_subscriptions` (`endpoint`);--> statement-breakpoint
CREATE INDEX `push_subscriptions_clinician` ON `push_subscriptions` (`clinician_id`);--> statement-breakpoint
CREATE TABLE `webhooks` (
	`id` text PRIMARY KEY NOT NULL,
	`url` text NOT NULL,
	`secret` text NOT NULL,
	`created_at` integer NOT NULL
);
