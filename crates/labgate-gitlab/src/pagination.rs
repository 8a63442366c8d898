//! Listings as streams. Keyset pagination where GitLab supports it, offset elsewhere; the next
//! page comes from `Link: <…>; rel="next"` (rebased onto the instance URL, so a link can never
//! send a request elsewhere) or else `x-next-page`. `x-total` is never needed: it disappears above
//! 10,000 records.

use std::collections::VecDeque;

use futures_util::stream::{self, BoxStream, StreamExt};
use serde::de::DeserializeOwned;
use url::Url;

use crate::client::{Call, Credential, GitLabClient, decode};
use crate::error::GitLabError;

/// A stream of records; dropping it stops fetching.
pub type Paged<T> = BoxStream<'static, Result<T, GitLabError>>;

/// Which pagination a listing uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `pagination=keyset&order_by=…&sort=asc`.
    Keyset {
        order_by: &'static str,
    },
    Offset,
}

/// Extracts the `rel="next"` target of a `Link` header.
pub fn next_link(link: &str) -> Option<&str> {
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        let is_next = params.split(';').any(|p| {
            let p = p.trim();
            p.strip_prefix("rel=")
                .map(|v| {
                    v.trim_matches('"')
                        .split_whitespace()
                        .any(|r| r.eq_ignore_ascii_case("next"))
                })
                .unwrap_or(false)
        });
        is_next.then_some(target)
    })
}

struct State<T> {
    client: GitLabClient,
    /// The first page in offset mode, used once if the instance refuses keyset (405 on older
    /// self-managed versions).
    offset_fallback: Option<Url>,
    cred: Option<Credential>,
    template: &'static str,
    next: Option<Url>,
    buf: VecDeque<T>,
    pages: u64,
}

impl GitLabClient {
    /// Streams every record of a listing starting at `first` (query without pagination
    /// parameters; they are added here).
    pub(crate) fn paginate<T>(
        &self,
        cred: Option<&Credential>,
        template: &'static str,
        mut first: Url,
        mode: Mode,
    ) -> Paged<T>
    where
        T: DeserializeOwned + Send + 'static,
    {
        {
            let per_page = self.inner.options.per_page.clamp(1, 100).to_string();
            let mut q = first.query_pairs_mut();
            q.append_pair("per_page", &per_page);
            match mode {
                Mode::Keyset { order_by } => {
                    q.append_pair("pagination", "keyset");
                    q.append_pair("order_by", order_by);
                    q.append_pair("sort", "asc");
                }
                Mode::Offset => {
                    q.append_pair("page", "1");
                }
            }
        }
        let offset_fallback = match mode {
            Mode::Keyset { .. } => {
                let mut u = first.clone();
                let pairs: Vec<(String, String)> = first
                    .query_pairs()
                    .filter(|(k, _)| !matches!(k.as_ref(), "pagination" | "order_by" | "sort"))
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                u.query_pairs_mut()
                    .clear()
                    .extend_pairs(pairs)
                    .append_pair("order_by", "id")
                    .append_pair("sort", "asc")
                    .append_pair("page", "1");
                Some(u)
            }
            Mode::Offset => None,
        };
        let state = State {
            client: self.clone(),
            offset_fallback,
            cred: cred.cloned(),
            template,
            next: Some(first),
            buf: VecDeque::new(),
            pages: 0,
        };
        stream::unfold(state, |mut st| async move {
            loop {
                if let Some(item) = st.buf.pop_front() {
                    return Some((Ok(item), st));
                }
                let url = st.next.take()?;
                match st.fetch(url).await {
                    Ok(()) => {}
                    Err(GitLabError::MethodNotAllowed { .. })
                        if st.pages == 0 && st.offset_fallback.is_some() =>
                    {
                        tracing::info!(
                            path = st.template,
                            "keyset pagination refused; using offset pagination"
                        );
                        st.next = st.offset_fallback.take();
                    }
                    Err(e) => return Some((Err(e), st)),
                }
            }
        })
        .boxed()
    }

    /// Rebases a `Link` target onto the instance URL: same path under the instance's API root,
    /// same query, our scheme/host/port.
    fn rebase_link(&self, target: &str, current: &Url) -> Result<Url, GitLabError> {
        let parsed = Url::options()
            .base_url(Some(current))
            .parse(target)
            .map_err(|e| GitLabError::Decode {
                path: "Link".to_owned(),
                detail: format!("invalid next-page link: {e}"),
            })?;
        let api_root = format!("{}/api/v4/", self.inner.base.path_prefix());
        if !parsed.path().starts_with(&api_root) {
            return Err(GitLabError::Decode {
                path: "Link".to_owned(),
                detail: "the next-page link points outside the instance's API".to_owned(),
            });
        }
        let mut url = current.clone();
        url.set_path(parsed.path());
        url.set_query(parsed.query());
        Ok(url)
    }
}

impl<T: DeserializeOwned> State<T> {
    async fn fetch(&mut self, url: Url) -> Result<(), GitLabError> {
        let call = Call {
            method: http::Method::GET,
            template: self.template,
            url: url.clone(),
            body: None,
            idempotent: true,
        };
        let answer = self.client.execute(&call, self.cred.as_ref()).await?;
        let items: Vec<T> = decode(&answer, self.template)?;
        self.pages += 1;
        self.offset_fallback = None;
        let got = items.len();
        self.buf.extend(items);
        let link = answer
            .headers
            .get_all(http::header::LINK)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(next_link)
            .map(str::to_owned);
        let next = if let Some(target) = link {
            Some(self.client.rebase_link(&target, &url)?)
        } else {
            let next_page = answer
                .headers
                .get("x-next-page")
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned);
            next_page.map(|p| {
                let mut u = url.clone();
                let pairs: Vec<(String, String)> = url
                    .query_pairs()
                    .filter(|(k, _)| k != "page")
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                u.query_pairs_mut()
                    .clear()
                    .extend_pairs(pairs)
                    .append_pair("page", &p);
                u
            })
        };
        // An empty page that still names a next page would loop forever on a broken server.
        self.next = match next {
            Some(n) if got == 0 || n == url => None,
            other => other,
        };
        tracing::trace!(
            path = self.template,
            page = self.pages,
            items = got,
            more = self.next.is_some(),
            "page fetched"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_next_link() {
        let h = r#"<https://g/api/v4/projects?page=1&per_page=3>; rel="prev", <https://g/api/v4/projects?page=3&per_page=3>; rel="next", <https://g/api/v4/projects?page=1&per_page=3>; rel="first""#;
        assert_eq!(next_link(h), Some("https://g/api/v4/projects?page=3&per_page=3"));
        assert_eq!(
            next_link(r#"<https://g/x?id_after=42>; rel="next""#),
            Some("https://g/x?id_after=42")
        );
        assert_eq!(next_link(r#"<https://g/x>; rel="first""#), None);
        assert_eq!(next_link(""), None);
        assert_eq!(next_link("garbage"), None);
    }
}
