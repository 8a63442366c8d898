-- Repeated actions of one actor on one resource within a minute (credential reads) are folded
-- into one entry that counts them.
ALTER TABLE audit_log ADD COLUMN occurrences INTEGER NOT NULL DEFAULT 1;
