DROP INDEX `rejections_device_time`;--> statement-breakpoint
ALTER TABLE `rejections` ADD `truncated` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `rejections` ADD `bytes` integer;--> statement-breakpoint
ALTER TABLE `rejections` ADD `sha256` text;--> statement-breakpoint
CREATE INDEX `rejections_device_seq` ON `rejections` (`device_id`,`seq`);