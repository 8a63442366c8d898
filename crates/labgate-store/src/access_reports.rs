//! Reading a sync run's snapshot a part at a time: accounts and grants by key (so an export of
//! hundreds of thousands of grants never holds them all), groups and projects as one listing,
//! and the names that turn the ids a grant holds into usernames and full paths.

use crate::{
    AccessAccountRecord, AccessGrantFilter, AccessGrantRecord, AccessGroupRecord, AccessProjectRecord,
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

/// Where a keyset read of grants resumes: after this (account, resource kind, resource id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessGrantKey {
    pub gitlab_user_id: i64,
    pub resource_kind: String,
    pub resource_id: i64,
}

const ACCOUNT_COLUMNS: &str = "gitlab_user_id, username, name, kind, state, is_admin, email, identities, \
     last_sign_in_at, last_activity_on";
const GRANT_COLUMNS: &str = "gitlab_user_id, resource_kind, resource_id, access_level, member_role_id, \
     member_role_name, path_kind, via_group_id, shared_at_kind, shared_at_id, capped_at, expires_at";

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

/// The `LIKE` pattern matching `text` anywhere in a lowered column, `\` escaping wildcards.
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::from("%");
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

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

    /// The next `limit` grants of a run in (account, resource) order after `after`.
    pub async fn access_grants_after(
        &self,
        run_id: &str,
        filter: AccessGrantFilter<'_>,
        after: Option<&AccessGrantKey>,
        limit: u32,
    ) -> Result<Vec<AccessGrantRecord>> {
        // Absent filters bind values no row has as "match anything": GitLab ids are positive.
        let account = filter.gitlab_user_id.unwrap_or(-1);
        let (kind, resource) = filter.resource.unwrap_or(("", -1));
        let (after_user, after_kind, after_id) = after.map_or((i64::MIN, "", i64::MIN), |key| {
            (key.gitlab_user_id, key.resource_kind.as_str(), key.resource_id)
        });
        let sql = format!(
            "SELECT {GRANT_COLUMNS} FROM access_grants WHERE run_id = $1 \
             AND ($2 < 0 OR gitlab_user_id = $2) AND ($3 = '' OR (resource_kind = $3 AND resource_id = $4)) \
             AND (gitlab_user_id > $5 OR (gitlab_user_id = $5 AND (resource_kind > $6 \
                  OR (resource_kind = $6 AND resource_id > $7)))) \
             ORDER BY gitlab_user_id, resource_kind, resource_id LIMIT $8"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, AccessGrantRecord>(&sql)
            .bind(run_id)
            .bind(account)
            .bind(kind)
            .bind(resource)
            .bind(after_user)
            .bind(after_kind)
            .bind(after_id)
            .bind(i64::from(limit))
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
                "SELECT gitlab_group_id, parent_id, full_path, name, visibility FROM access_groups \
                 WHERE run_id = $1 ORDER BY full_path",
            )
            .bind(run_id)
            .fetch_all(pool)
            .await?,
            sqlx::query_as::<_, AccessProjectRecord>(
                "SELECT gitlab_project_id, group_id, full_path, name, visibility FROM access_projects \
                 WHERE run_id = $1 ORDER BY full_path",
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

    /// The full paths of some of a run's groups (`group_ids`) and projects (`project_ids`), as
    /// (kind, id, full path); ids the run has not are absent.
    pub async fn access_full_paths(
        &self,
        run_id: &str,
        group_ids: &[i64],
        project_ids: &[i64],
    ) -> Result<Vec<(String, i64, String)>> {
        let mut found = Vec::with_capacity(group_ids.len() + project_ids.len());
        for (kind, table, column, ids) in [
            ("group", "access_groups", "gitlab_group_id", group_ids),
            ("project", "access_projects", "gitlab_project_id", project_ids),
        ] {
            if ids.is_empty() {
                continue;
            }
            let sql = format!(
                "SELECT {column}, full_path FROM {table} WHERE run_id = $1 AND {column} IN ({})",
                placeholders(2, ids.len())
            );
            let rows: Vec<(i64, String)> = on_pool!(self, pool => {
                let mut query = sqlx::query_as::<_, (i64, String)>(&sql).bind(run_id);
                for id in ids {
                    query = query.bind(*id);
                }
                query.fetch_all(pool).await?
            });
            found.extend(rows.into_iter().map(|(id, path)| (kind.to_owned(), id, path)));
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::{contains_pattern, placeholders};

    #[test]
    fn placeholders_number_from_the_first() {
        assert_eq!(placeholders(2, 3), "$2, $3, $4");
        assert_eq!(contains_pattern("a_b"), "%a\\_b%");
    }
}
