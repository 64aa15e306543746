CREATE TABLE `alert_outbox` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`alert_id` text NOT NULL,
	`event` text NOT NULL,
	`at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `alerts` (
	`id` text PRIMARY KEY NOT NULL,
	`patient_id` text NOT NULL,
	`rule_id` text NOT NULL,
	`care_plan_version` integer NOT NULL,
	`metric` text NOT NULL,
	`severity` text NOT NULL,
	`status` text NOT NULL,
	`active` integer NOT NULL,
	`message` text NOT NULL,
	`opened_at` integer NOT NULL,
	`last_triggered_at` integer NOT NULL,
	`count` integer NOT NULL,
	`reading` text,
	`acknowledged_by` text,
	`acknowledged_at` integer,
	`resolved_by` text,
	`resolved_at` integer,
	`note` text,
	FOREIGN KEY (`patient_id`) REFERENCES `patients`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `alerts_one_unresolved` ON `alerts` (`patient_id`,`rule_id`) WHERE status <> 'resolved';--> statement-breakpoint
CREATE INDEX `alerts_patient_opened` ON `alerts` (`patient_id`,`opened_at`);--> statement-breakpoint
CREATE INDEX `alerts_status_opened` ON `alerts` (`status`,`opened_at`);--> statement-breakpoint
CREATE TABLE `care_plans` (
	`patient_id` text NOT NULL,
	`version` integer NOT NULL,
	`templates` text NOT NULL,
	`rules` text NOT NULL,
	`rule_since` text NOT NULL,
	`created_at` integer NOT NULL,
	`created_by` text NOT NULL,
	PRIMARY KEY(`patient_id`, `version`),
	FOREIGN KEY (`patient_id`) REFERENCES `patients`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE TABLE `metric_state` (
	`patient_id` text NOT NULL,
	`metric` text NOT NULL,
	`last_received_at` integer NOT NULL,
	`newest_measured_at` integer NOT NULL,
	PRIMARY KEY(`patient_id`, `metric`)
);
