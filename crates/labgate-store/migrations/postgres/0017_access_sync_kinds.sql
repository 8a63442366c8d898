-- A sync run is full (everything in the source's scope) or targeted (the previous successful
-- snapshot with a few groups and projects read again). The periodic schedule looks at full runs
-- only; a targeted run names what it re-reads.
ALTER TABLE access_sync_runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'full';
-- JSON array of {kind, id} for a targeted run; NULL for a full run.
ALTER TABLE access_sync_runs ADD COLUMN targets TEXT;
