CREATE TABLE `audit_checkpoint` (
	`id` integer PRIMARY KEY NOT NULL,
	`since` integer NOT NULL,
	`seq` integer NOT NULL,
	`hash` text NOT NULL,
	`mac` text NOT NULL
);
