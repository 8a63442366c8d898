//! Projects and repository comparisons.

use http::Method;

use super::{flag, with_query};
use crate::client::{Call, Credential, GitLabClient};
use crate::error::GitLabError;
use crate::model::*;
use crate::pagination::{Mode, Paged};

/// Filters for `GET /projects` (keyset-paginated by id).
#[derive(Debug, Clone, Default)]
pub struct ProjectFilter {
    pub membership: bool,
    pub owned: bool,
    pub archived: Option<bool>,
    pub min_access_level: Option<AccessLevel>,
    pub search: Option<String>,
    pub simple: bool,
}

impl GitLabClient {
    /// `GET /projects`, keyset-paginated by id.
    pub fn projects(&self, cred: &Credential, filter: &ProjectFilter) -> Paged<Project> {
        let mut q = Vec::new();
        flag(&mut q, "membership", filter.membership);
        flag(&mut q, "owned", filter.owned);
        flag(&mut q, "simple", filter.simple);
        if let Some(a) = filter.archived {
            q.push(("archived", a.to_string()));
        }
        if let Some(l) = filter.min_access_level {
            q.push(("min_access_level", l.0.to_string()));
        }
        if let Some(s) = &filter.search {
            q.push(("search", s.clone()));
        }
        self.list(
            cred,
            "/projects",
            "/projects",
            &q,
            Mode::Keyset { order_by: "id" },
        )
    }

    #[tracing::instrument(skip_all)]
    pub async fn project(&self, cred: &Credential, id: &ResourceId) -> Result<Project, GitLabError> {
        self.json(
            &self.get("/projects/{id}", &format!("/projects/{}", id.segment()))?,
            Some(cred),
        )
        .await
    }

    // ---- repository -----------------------------------------------------------------------

    /// `GET /projects/:id/repository/compare?from=…&to=…` (commits and diffs of a range).
    #[tracing::instrument(skip_all)]
    pub async fn compare(
        &self,
        cred: &Credential,
        project: &ResourceId,
        from: &str,
        to: &str,
    ) -> Result<Comparison, GitLabError> {
        let url = self.api_url(&format!("/projects/{}/repository/compare", project.segment()))?;
        let call = Call {
            method: Method::GET,
            template: "/projects/{id}/repository/compare",
            url: with_query(url, &[("from", from.to_owned()), ("to", to.to_owned())]),
            body: None,
            idempotent: true,
        };
        self.json(&call, Some(cred)).await
    }
}
