-- Effective grants are no longer stored: a large instance's run has tens of millions, and writing
-- them took longer than reading GitLab. They are computed when read, from the run's direct
-- memberships, group tree and shares, as of the day the run computed them (`computed_on`, so a
-- run's answer never changes as memberships expire later). What is kept is how many grants each
-- account has, with running totals in account order: a listing finds the accounts a page starts
-- and ends in without computing the grants before it.
-- Nothing is lost: the grants dropped here are computed again from the memberships kept.

CREATE TABLE access_grant_totals (
    run_id       TEXT PRIMARY KEY NOT NULL REFERENCES access_sync_runs (id) ON DELETE CASCADE,
    -- Milliseconds at 00:00 UTC of the day whose memberships and shares are in force.
    computed_on  BIGINT NOT NULL,
    grants       BIGINT NOT NULL
);

-- One row per account with at least one grant.
CREATE TABLE access_grant_tallies (
    run_id          TEXT NOT NULL REFERENCES access_sync_runs (id) ON DELETE CASCADE,
    gitlab_user_id  BIGINT NOT NULL,
    grants          BIGINT NOT NULL,
    -- This account's grants plus those of every account with a lower id.
    grants_through  BIGINT NOT NULL,
    PRIMARY KEY (run_id, gitlab_user_id)
);
CREATE INDEX access_grant_tallies_through ON access_grant_tallies (run_id, grants_through);

-- Who can reach a group or project is found from the memberships on it and on the groups above it.
CREATE INDEX access_memberships_resource ON access_memberships (run_id, resource_kind, resource_id);

INSERT INTO access_grant_tallies (run_id, gitlab_user_id, grants, grants_through)
SELECT run_id, gitlab_user_id, COUNT(*),
       CAST(SUM(COUNT(*)) OVER (PARTITION BY run_id ORDER BY gitlab_user_id) AS BIGINT)
FROM access_grants
GROUP BY run_id, gitlab_user_id;

INSERT INTO access_grant_totals (run_id, computed_on, grants)
SELECT r.id,
       COALESCE(r.finished_at, r.created_at) - (COALESCE(r.finished_at, r.created_at) % 86400000),
       (SELECT COUNT(*) FROM access_grants g WHERE g.run_id = r.id)
FROM access_sync_runs r
WHERE r.status = 'succeeded';

DROP TABLE access_grants;
