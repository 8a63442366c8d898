//! Groups, subgroups and the projects in a group.

use super::flag;
use crate::client::{Credential, GitLabClient};
use crate::error::GitLabError;
use crate::model::*;
use crate::pagination::{Mode, Paged};

/// Filters for `GET /groups` (offset-paginated: keyset is for anonymous callers only).
#[derive(Debug, Clone, Default)]
pub struct GroupFilter {
    /// Every group the caller can see, not only its memberships (admins default to it).
    pub all_available: Option<bool>,
    pub owned: bool,
    pub top_level_only: bool,
    pub min_access_level: Option<AccessLevel>,
    pub search: Option<String>,
}

impl GitLabClient {
    /// `GET /groups` (offset pagination).
    pub fn groups(&self, cred: &Credential, filter: &GroupFilter) -> Paged<Group> {
        let mut q = Vec::new();
        if let Some(a) = filter.all_available {
            q.push(("all_available", a.to_string()));
        }
        flag(&mut q, "owned", filter.owned);
        flag(&mut q, "top_level_only", filter.top_level_only);
        if let Some(l) = filter.min_access_level {
            q.push(("min_access_level", l.0.to_string()));
        }
        if let Some(s) = &filter.search {
            q.push(("search", s.clone()));
        }
        q.push(("order_by", "id".to_owned()));
        q.push(("sort", "asc".to_owned()));
        self.list(cred, "/groups", "/groups", &q, Mode::Offset)
    }

    #[tracing::instrument(skip_all)]
    pub async fn group(&self, cred: &Credential, id: &ResourceId) -> Result<Group, GitLabError> {
        self.json(
            &self.get("/groups/{id}", &format!("/groups/{}", id.segment()))?,
            Some(cred),
        )
        .await
    }

    pub fn subgroups(&self, cred: &Credential, id: &ResourceId) -> Paged<Group> {
        self.list(
            cred,
            "/groups/{id}/subgroups",
            &format!("/groups/{}/subgroups", id.segment()),
            &[],
            Mode::Offset,
        )
    }

    pub fn descendant_groups(&self, cred: &Credential, id: &ResourceId) -> Paged<Group> {
        self.list(
            cred,
            "/groups/{id}/descendant_groups",
            &format!("/groups/{}/descendant_groups", id.segment()),
            &[],
            Mode::Offset,
        )
    }

    /// `GET /groups/:id/projects`; `include_subgroups` covers the whole hierarchy.
    pub fn group_projects(
        &self,
        cred: &Credential,
        id: &ResourceId,
        include_subgroups: bool,
    ) -> Paged<Project> {
        let q = [("include_subgroups", include_subgroups.to_string())];
        self.list(
            cred,
            "/groups/{id}/projects",
            &format!("/groups/{}/projects", id.segment()),
            &q,
            Mode::Offset,
        )
    }
}
