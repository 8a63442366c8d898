-- When a connection last handed out its credential (milliseconds since the epoch; NULL: never).
-- Reads are counted in memory and written in batches, to the minute, so a busy broker does not
-- turn every read into a write. The proactive OAuth refresh keeps only connections used lately
-- fresh.
ALTER TABLE app_connections ADD COLUMN last_used_at BIGINT;
