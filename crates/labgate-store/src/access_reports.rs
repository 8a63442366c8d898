//! Reading a sync run's snapshot a part at a time: accounts by key (so an export never holds
//! them all), the memberships grants are computed from (an account's, or those on a few groups
//! and projects), the per-account grant tallies that page through a run's grants, groups and
//! projects as one listing, and usernames for the ids a grant holds.

use crate::access::{
    ACCOUNT_COLUMNS, GROUP_COLUMNS, MEMBERSHIP_COLUMNS, PROJECT_COLUMNS, SHARE_COLUMNS, contains_pattern,
};
use crate::{
    AccessAccountRecord, AccessGrantTally, AccessGroupRecord, AccessMembershipRecord, AccessProjectRecord,
    AccessShareRecord,
};
use crate::{Result, Store, on_pool, page};

/// A group or a project of a run, with its parent group's full path.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AccessResourceRecord {
    /// `group` or `project`.
    pub kind: String,
    pub id: i64,
    pub parent_id: Option<i64>,
    pub parent_full_path: Option<String>,
    pub full_path: String,
    pub name: String,
    pub visibility: String,
}

/// Groups and projects of a run as one relation: `kind, id, parent_id, parent_full_path,
/// full_path, name, visibility`, for run `$1`.
const RESOURCES: &str = "(SELECT 'group' AS kind, g.gitlab_group_id AS id, g.parent_id AS parent_id, \
       p.full_path AS parent_full_path, g.full_path AS full_path, g.name AS name, g.visibility AS visibility \
     FROM access_groups g LEFT JOIN access_groups p ON p.run_id = g.run_id AND p.gitlab_group_id = g.parent_id \
     WHERE g.run_id = $1 \
     UNION ALL \
     SELECT 'project' AS kind, r.gitlab_project_id AS id, r.group_id AS parent_id, \
       p.full_path AS parent_full_path, r.full_path AS full_path, r.name AS name, r.visibility AS visibility \
     FROM access_projects r LEFT JOIN access_groups p ON p.run_id = r.run_id AND p.gitlab_group_id = r.group_id \
     WHERE r.run_id = $1) AS resources";

/// `$first, $first+1, …` for `count` parameters.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    /// The next `limit` accounts of a run in username order after `after` (username, GitLab
    /// id), optionally those whose username, name or e-mail contains `search`.
    pub async fn access_accounts_after(
        &self,
        run_id: &str,
        search: Option<&str>,
        after: Option<(&str, i64)>,
        limit: u32,
    ) -> Result<Vec<AccessAccountRecord>> {
        let pattern = search.map(contains_pattern).unwrap_or_default();
        let (username, id) = after.unwrap_or(("", i64::MIN));
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS} FROM access_accounts WHERE run_id = $1 \
             AND ($2 = '' OR LOWER(username) LIKE $2 ESCAPE '\\' OR LOWER(name) LIKE $2 ESCAPE '\\' \
                  OR LOWER(COALESCE(email, '')) LIKE $2 ESCAPE '\\') \
             AND (username > $3 OR (username = $3 AND gitlab_user_id > $4)) \
             ORDER BY username, gitlab_user_id LIMIT $5"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, AccessAccountRecord>(&sql)
            .bind(run_id)
            .bind(&pattern)
            .bind(username)
            .bind(id)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?),
        )
    }

    /// The tallies of the accounts whose grants include the run's grant number `offset` and
    /// those after it (grants numbered from 0 in account, then resource order), at most `limit`.
    pub async fn access_grant_tallies_from(
        &self,
        run_id: &str,
        offset: i64,
        limit: u32,
    ) -> Result<Vec<AccessGrantTally>> {
        Ok(on_pool!(self, pool => sqlx::query_as::<_, AccessGrantTally>(
            "SELECT gitlab_user_id, grants, grants_through FROM access_grant_tallies \
             WHERE run_id = $1 AND grants_through > $2 ORDER BY grants_through LIMIT $3",
        )
        .bind(run_id)
        .bind(offset)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?))
    }

    /// The next `limit` tallies of a run in account order after account `after`.
    pub async fn access_grant_tallies_after(
        &self,
        run_id: &str,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AccessGrantTally>> {
        Ok(on_pool!(self, pool => sqlx::query_as::<_, AccessGrantTally>(
            "SELECT gitlab_user_id, grants, grants_through FROM access_grant_tallies \
             WHERE run_id = $1 AND gitlab_user_id > $2 ORDER BY gitlab_user_id LIMIT $3",
        )
        .bind(run_id)
        .bind(after.unwrap_or(i64::MIN))
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?))
    }

    /// The direct memberships of a run's accounts `first..=last` (GitLab ids), in account, then
    /// resource order.
    pub async fn access_memberships_of_accounts(
        &self,
        run_id: &str,
        first: i64,
        last: i64,
    ) -> Result<Vec<AccessMembershipRecord>> {
        let sql = format!(
            "SELECT {MEMBERSHIP_COLUMNS} FROM access_memberships WHERE run_id = $1 \
             AND gitlab_user_id >= $2 AND gitlab_user_id <= $3 \
             ORDER BY gitlab_user_id, resource_kind, resource_id"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, AccessMembershipRecord>(&sql)
            .bind(run_id)
            .bind(first)
            .bind(last)
            .fetch_all(pool)
            .await?),
        )
    }

    /// The direct memberships of a run on some of its groups (`group_ids`) and projects
    /// (`project_ids`), in account, then resource order.
    pub async fn access_memberships_on(
        &self,
        run_id: &str,
        group_ids: &[i64],
        project_ids: &[i64],
    ) -> Result<Vec<AccessMembershipRecord>> {
        let mut found = Vec::new();
        for (kind, ids) in [("group", group_ids), ("project", project_ids)] {
            if ids.is_empty() {
                continue;
            }
            let sql = format!(
                "SELECT {MEMBERSHIP_COLUMNS} FROM access_memberships WHERE run_id = $1 \
                 AND resource_kind = $2 AND resource_id IN ({})",
                placeholders(3, ids.len())
            );
            let rows: Vec<AccessMembershipRecord> = on_pool!(self, pool => {
                let mut query = sqlx::query_as::<_, AccessMembershipRecord>(&sql).bind(run_id).bind(kind);
                for id in ids {
                    query = query.bind(*id);
                }
                query.fetch_all(pool).await?
            });
            found.extend(rows);
        }
        found.sort_by(|a, b| {
            (a.gitlab_user_id, &a.resource_kind, a.resource_id).cmp(&(
                b.gitlab_user_id,
                &b.resource_kind,
                b.resource_id,
            ))
        });
        Ok(found)
    }

    /// A run's shares, in key order.
    pub async fn access_shares(&self, run_id: &str) -> Result<Vec<AccessShareRecord>> {
        let sql = format!(
            "SELECT {SHARE_COLUMNS} FROM access_shares WHERE run_id = $1 \
             ORDER BY resource_kind, resource_id, shared_with_group_id"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, AccessShareRecord>(&sql)
            .bind(run_id)
            .fetch_all(pool)
            .await?),
        )
    }

    /// A run's account by its username (GitLab usernames are unique on an instance).
    pub async fn access_account_by_username(
        &self,
        run_id: &str,
        username: &str,
    ) -> Result<Option<AccessAccountRecord>> {
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS} FROM access_accounts WHERE run_id = $1 AND LOWER(username) = LOWER($2) \
             ORDER BY gitlab_user_id LIMIT 1"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, AccessAccountRecord>(&sql)
            .bind(run_id)
            .bind(username)
            .fetch_optional(pool)
            .await?),
        )
    }

    /// A run's group or project by its full path: the kind (`group` or `project`) and GitLab
    /// id. Groups and projects share GitLab's namespace of paths, so at most one matches.
    pub async fn access_resource_by_path(
        &self,
        run_id: &str,
        full_path: &str,
    ) -> Result<Option<(String, i64)>> {
        let sql = format!(
            "SELECT kind, id FROM {RESOURCES} WHERE LOWER(full_path) = LOWER($2) ORDER BY kind LIMIT 1"
        );
        Ok(on_pool!(self, pool => sqlx::query_as::<_, (String, i64)>(&sql)
            .bind(run_id)
            .bind(full_path)
            .fetch_optional(pool)
            .await?))
    }

    /// One page of a run's groups and projects by full path, optionally of one kind and those
    /// whose full path or name contains `search`, and how many match.
    pub async fn list_access_resources(
        &self,
        run_id: &str,
        kind: Option<&str>,
        search: Option<&str>,
        offset: u64,
        limit: u32,
    ) -> Result<(Vec<AccessResourceRecord>, u64)> {
        let pattern = search.map(contains_pattern).unwrap_or_default();
        let kind = kind.unwrap_or("");
        let from = format!(
            "{RESOURCES} WHERE ($2 = '' OR kind = $2) AND ($3 = '' OR LOWER(full_path) LIKE $3 ESCAPE '\\' \
             OR LOWER(name) LIKE $3 ESCAPE '\\')"
        );
        page!(
            self,
            AccessResourceRecord,
            columns = "kind, id, parent_id, parent_full_path, full_path, name, visibility",
            from = from,
            order = "full_path, kind, id",
            binds = [run_id, kind, pattern.as_str()],
            offset = offset,
            limit = limit
        )
    }

    /// Every group and project of a run, by full path: the tree a page draws.
    pub async fn access_groups_and_projects(
        &self,
        run_id: &str,
    ) -> Result<(Vec<AccessGroupRecord>, Vec<AccessProjectRecord>)> {
        Ok(on_pool!(self, pool => (
            sqlx::query_as::<_, AccessGroupRecord>(
                &format!("SELECT {GROUP_COLUMNS} FROM access_groups WHERE run_id = $1 ORDER BY full_path"),
            )
            .bind(run_id)
            .fetch_all(pool)
            .await?,
            sqlx::query_as::<_, AccessProjectRecord>(
                &format!("SELECT {PROJECT_COLUMNS} FROM access_projects WHERE run_id = $1 ORDER BY full_path"),
            )
            .bind(run_id)
            .fetch_all(pool)
            .await?,
        )))
    }

    /// The usernames of some of a run's accounts, by GitLab id; ids the run has not are absent.
    pub async fn access_usernames(&self, run_id: &str, ids: &[i64]) -> Result<Vec<(i64, String)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT gitlab_user_id, username FROM access_accounts WHERE run_id = $1 AND gitlab_user_id IN ({})",
            placeholders(2, ids.len())
        );
        Ok(on_pool!(self, pool => {
            let mut query = sqlx::query_as::<_, (i64, String)>(&sql).bind(run_id);
            for id in ids {
                query = query.bind(*id);
            }
            query.fetch_all(pool).await?
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::placeholders;

    #[test]
    fn placeholders_number_from_the_first() {
        assert_eq!(placeholders(2, 3), "$2, $3, $4");
    }
}
