-- When a connection last handed out its credential (milliseconds since the epoch; NULL: never).
-- Reads are counted in memory and written in batches, to the minute, so a busy broker does not
-- turn every read into a write. The proactive OAuth refresh keeps only connections used lately
-- fresh.
ALTER TABLE app_connections ADD COLUMN last_used_at BIGINT;

-- Every labgate process keeps recently read connections and their opened credentials in memory.
-- It forgets one as soon as the row changes or goes: the change is announced on this channel,
-- with the connection id as payload, when its transaction commits (PostgreSQL delivers
-- notifications in commit order). Recording usage alone (last_used_at) changes nothing a cache
-- holds, so it announces nothing. Rows deleted through the tenant cascade are announced too.
CREATE FUNCTION labgate_announce_connection_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('labgate_connection_changes', OLD.id);
    RETURN NULL;
END;
$$;

CREATE TRIGGER app_connections_changed
    AFTER UPDATE ON app_connections
    FOR EACH ROW
    WHEN ((to_jsonb(OLD) - 'last_used_at') IS DISTINCT FROM (to_jsonb(NEW) - 'last_used_at'))
    EXECUTE FUNCTION labgate_announce_connection_change();

CREATE TRIGGER app_connections_deleted
    AFTER DELETE ON app_connections
    FOR EACH ROW
    EXECUTE FUNCTION labgate_announce_connection_change();
