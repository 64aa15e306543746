-- Metric states are now saved about once a second, with the seq of the readings they cover; a start
-- rebuilds them from the readings after that seq. Until now they were saved with every reading, so an
-- existing database is up to date with all of its readings.
INSERT INTO outbox_cursors (name, seq) SELECT 'metric_state', coalesce(max(seq), 0) FROM readings;
