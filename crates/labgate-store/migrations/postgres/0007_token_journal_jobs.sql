-- The job that follows a journalled GitLab call. While that job is held under a live lease, the
-- call may still be in flight and its entry is left alone; once the lease has lapsed (the
-- process holding it died) or the job has finished, an entry without an answer is settled at
-- once. Entries written before jobs followed these calls have none.
ALTER TABLE token_journal ADD COLUMN job_id TEXT;
