//! Both pagination styles across more than 10,000 records, where GitLab stops sending totals.

use std::collections::BTreeSet;

use futures_util::StreamExt;
use gitlab_sim::Generate;
use labgate_gitlab::*;

use crate::common::*;

const N: u64 = 10_250;

#[tokio::test]
async fn keyset_and_offset_beyond_ten_thousand() {
    let sim = start_sim(standard_seed().generate(Generate {
        users: N,
        groups: N,
        projects: N,
        memberships: 0,
        shares: 0,
        seed: 7,
    }))
    .await;
    let c = client(&sim);
    let root = pat(ROOT_TOKEN);

    // Keyset (users, by id): only `Link: rel="next"`, none on the last page.
    let users = collect(c.users(&root, &UserFilter::default())).await.unwrap();
    assert!(users.len() as u64 > N, "{}", users.len());
    let ids: BTreeSet<u64> = users.iter().map(|u| u.id).collect();
    assert_eq!(ids.len(), users.len(), "no duplicates");
    assert!(users.windows(2).all(|w| w[0].id < w[1].id));
    let pages = count(&sim, "GET", "/users");
    assert!(pages <= users.len() as u64 / 100 + 2, "{pages} requests");

    // Keyset (projects, by id).
    let projects = collect(c.projects(&root, &ProjectFilter::default()))
        .await
        .unwrap();
    assert!(projects.len() as u64 > N);
    let ids: BTreeSet<u64> = projects.iter().map(|p| p.id).collect();
    assert_eq!(ids.len(), projects.len());
    assert!(count(&sim, "GET", "/projects") <= projects.len() as u64 / 100 + 2);

    // Offset (groups): no x-total above 10,000; the stream follows Link/x-next-page.
    let raw = reqwest_probe(&sim).await;
    assert!(
        raw.0.is_none(),
        "the simulator omits x-total above 10,000 records"
    );
    assert!(raw.1, "x-next-page is present");
    let groups = collect(c.groups(
        &root,
        &GroupFilter {
            all_available: Some(true),
            ..GroupFilter::default()
        },
    ))
    .await
    .unwrap();
    assert!(groups.len() as u64 > N, "{}", groups.len());
    let ids: BTreeSet<u64> = groups.iter().map(|g| g.id).collect();
    assert_eq!(ids.len(), groups.len());
    assert!(count(&sim, "GET", "/groups") <= groups.len() as u64 / 100 + 3);
}

/// The raw headers of the first `/groups` page: (`x-total`, whether `x-next-page` is set).
async fn reqwest_probe(sim: &gitlab_sim::SimServer) -> (Option<String>, bool) {
    labgate_crypto::tls::install_default_provider();
    let r = reqwest::Client::new()
        .get(format!(
            "{}/api/v4/groups?all_available=true&per_page=100",
            sim.url()
        ))
        .header("private-token", ROOT_TOKEN)
        .send()
        .await
        .unwrap();
    let h = r.headers();
    (
        h.get("x-total").map(|v| v.to_str().unwrap().to_owned()),
        h.get("x-next-page").is_some_and(|v| !v.is_empty()),
    )
}

#[tokio::test]
async fn streams_stop_early_and_surface_errors() {
    let sim = start_sim(standard_seed().generate(Generate {
        users: 500,
        groups: 0,
        projects: 0,
        memberships: 0,
        shares: 0,
        seed: 1,
    }))
    .await;
    let c = client(&sim);
    // Taking a few items fetches one page only.
    let first: Vec<_> = c
        .users(&pat(ROOT_TOKEN), &UserFilter::default())
        .take(5)
        .collect()
        .await;
    assert_eq!(first.len(), 5);
    assert_eq!(count(&sim, "GET", "/users"), 1);
    // An error mid-stream is yielded, then the stream ends.
    sim.faults().add(gitlab_sim::FaultRule {
        route: Some("/api/v4/users".into()),
        error_500: 1.0,
        ..gitlab_sim::FaultRule::default()
    });
    let items: Vec<_> = c.users(&pat(ROOT_TOKEN), &UserFilter::default()).collect().await;
    assert_eq!(items.len(), 1);
    assert!(matches!(
        items[0],
        Err(GitLabError::Transient {
            status: Some(500),
            ..
        })
    ));
}

#[tokio::test]
async fn falls_back_to_offset_when_keyset_is_refused() {
    // An older instance: keyset answers 405, offset works with x-next-page only (no Link).
    let app = axum::Router::new().route(
        "/api/v4/projects",
        axum::routing::get(|q: axum::extract::Query<std::collections::HashMap<String, String>>| async move {
            if q.get("pagination").map(String::as_str) == Some("keyset") {
                return (
                    axum::http::StatusCode::METHOD_NOT_ALLOWED,
                    axum::http::HeaderMap::new(),
                    axum::Json(serde_json::json!({"error": "Keyset pagination is not yet available for this type of request"})),
                );
            }
            let page: u64 = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
            let mut h = axum::http::HeaderMap::new();
            h.insert("x-next-page", if page < 3 { (page + 1).to_string() } else { String::new() }.parse().unwrap());
            (axum::http::StatusCode::OK, h, axum::Json(serde_json::json!([{ "id": page, "path_with_namespace": format!("g/p{page}") }])))
        }),
    );
    let addr = spawn_app(app).await;
    let c = client_for_url(&format!("http://{addr}"), fast_client_options());
    let projects = collect(c.projects(&pat(ALICE_TOKEN), &ProjectFilter::default()))
        .await
        .unwrap();
    assert_eq!(projects.iter().map(|p| p.id).collect::<Vec<_>>(), vec![1, 2, 3]);
}
