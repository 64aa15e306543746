CREATE TABLE `integrations` (
	`id` text PRIMARY KEY NOT NULL,
	`vendor` text NOT NULL,
	`secret_hash` text NOT NULL,
	`created_at` integer NOT NULL,
	`created_by` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `integrations_secret_hash_unique` ON `integrations` (`secret_hash`);--> statement-breakpoint
CREATE TABLE `withings_users` (
	`integration_id` text NOT NULL,
	`withings_user_id` text NOT NULL,
	`access_token` text NOT NULL,
	`refresh_token` text NOT NULL,
	`expires_at` integer NOT NULL,
	`linked_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`integration_id`, `withings_user_id`),
	FOREIGN KEY (`integration_id`) REFERENCES `integrations`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
ALTER TABLE `devices` ADD `vendor` text;--> statement-breakpoint
ALTER TABLE `devices` ADD `vendor_device_id` text;--> statement-breakpoint
CREATE UNIQUE INDEX `devices_vendor_device` ON `devices` (`vendor`,`vendor_device_id`);