//! Offset and keyset pagination headers and limits.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::*;
use gitlab_sim::{Generate, Seed};

fn many_users(n: u64) -> gitlab_sim::SeedBuilder {
    standard().generate(Generate {
        users: n,
        groups: 0,
        projects: 0,
        memberships: 0,
        shares: 0,
        seed: 3,
    })
}

#[tokio::test]
async fn offset_headers_and_absolute_links() {
    let sim = start(many_users(40)).await;
    let total = sim.state().read(|db| db.users.len());
    let r = get(
        &sim,
        "/api/v4/users?per_page=10&page=2&active=true",
        Some(ROOT_TOKEN),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body.as_array().unwrap().len(), 10);
    assert_eq!(r.header("x-page"), Some("2"));
    assert_eq!(r.header("x-per-page"), Some("10"));
    assert_eq!(r.header("x-next-page"), Some("3"));
    assert_eq!(r.header("x-prev-page"), Some("1"));
    assert_eq!(r.header("x-total"), Some(total.to_string().as_str()));
    assert_eq!(
        r.header("x-total-pages"),
        Some(total.div_ceil(10).to_string().as_str())
    );
    let link = r.header("link").unwrap();
    let base = sim.url();
    assert!(
        link.contains(&format!(
            "<{base}/api/v4/users?per_page=10&page=1&active=true>; rel=\"prev\""
        )),
        "{link}"
    );
    assert!(link.contains(&format!(
        "<{base}/api/v4/users?per_page=10&page=3&active=true>; rel=\"next\""
    )));
    assert!(link.contains("rel=\"first\"") && link.contains("rel=\"last\""));
    // Default order is id descending.
    let ids: Vec<u64> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_u64().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]));
}

#[tokio::test]
async fn last_page_has_empty_next_and_first_page_empty_prev() {
    let sim = start(standard()).await;
    let r = get(&sim, "/api/v4/users?per_page=100", Some(ROOT_TOKEN)).await;
    assert_eq!(r.header("x-next-page"), Some(""));
    assert_eq!(r.header("x-prev-page"), Some(""));
    assert!(!r.header("link").unwrap().contains("rel=\"next\""));
}

#[tokio::test]
async fn per_page_above_100_is_clamped() {
    let sim = start(many_users(150)).await;
    let r = get(&sim, "/api/v4/users?per_page=500", Some(ROOT_TOKEN)).await;
    assert_eq!(r.body.as_array().unwrap().len(), 100);
    assert_eq!(r.header("x-per-page"), Some("100"));
}

#[tokio::test]
async fn totals_and_last_link_dropped_above_ten_thousand() {
    let sim = start(many_users(10_050)).await;
    let r = get(&sim, "/api/v4/users?per_page=100&page=2", Some(ROOT_TOKEN)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.header("x-total").is_none());
    assert!(r.header("x-total-pages").is_none());
    let link = r.header("link").unwrap();
    assert!(!link.contains("rel=\"last\"") && link.contains("rel=\"next\""));
    assert_eq!(r.header("x-next-page"), Some("3"));
}

#[tokio::test]
async fn offset_cap_405_where_keyset_exists() {
    let sim = start(standard()).await;
    let r = get(&sim, "/api/v4/projects?per_page=100&page=501", Some(ROOT_TOKEN)).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        r.body,
        json!({"error": "Offset pagination has a maximum allowed offset of 50000 for requests that return objects of type Project. Remaining records can be retrieved using keyset pagination."})
    );
    let r = get(&sim, "/api/v4/users?per_page=100&page=501", Some(ROOT_TOKEN)).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    // Offset-only resources have no cap.
    let r = get(
        &sim,
        "/api/v4/projects/1/members?per_page=100&page=501",
        Some(ROOT_TOKEN),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn keyset_users_by_id_follows_link_and_ends_without_one() {
    let sim = start(many_users(25)).await;
    let total = sim.state().read(|db| db.users.len());
    let mut url = format!(
        "{}/api/v4/users?pagination=keyset&per_page=10&order_by=id&sort=asc",
        sim.url()
    );
    let mut seen = Vec::new();
    for _ in 0..10 {
        let resp = client()
            .get(&url)
            .header("PRIVATE-TOKEN", ROOT_TOKEN)
            .send()
            .await
            .unwrap();
        assert!(resp.headers().get("x-total").is_none() && resp.headers().get("x-page").is_none());
        let link = resp.headers().get("link").map(|l| l.to_str().unwrap().to_owned());
        let page: Vec<serde_json::Value> = resp.json().await.unwrap();
        seen.extend(page.iter().map(|u| u["id"].as_u64().unwrap()));
        match link {
            Some(l) => {
                assert!(l.ends_with("; rel=\"next\"") && l.contains("id_after="), "{l}");
                url = l.trim_start_matches('<').split('>').next().unwrap().to_owned();
            }
            None => break,
        }
    }
    assert_eq!(seen.len(), total);
    assert!(seen.windows(2).all(|w| w[0] < w[1]));
}

#[tokio::test]
async fn keyset_users_by_username_uses_cursor() {
    let sim = start(many_users(12)).await;
    let r = get(
        &sim,
        "/api/v4/users?pagination=keyset&per_page=5&order_by=username&sort=asc",
        Some(ROOT_TOKEN),
    )
    .await;
    let link = r.header("link").unwrap().to_owned();
    assert!(link.contains("cursor="), "{link}");
    let next = link.trim_start_matches('<').split('>').next().unwrap();
    let resp = client()
        .get(next)
        .header("PRIVATE-TOKEN", ROOT_TOKEN)
        .send()
        .await
        .unwrap();
    let page: Vec<serde_json::Value> = resp.json().await.unwrap();
    let first: Vec<&str> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert!(page[0]["username"].as_str().unwrap() > *first.last().unwrap());
}

#[tokio::test]
async fn keyset_projects_and_unsupported_keyset() {
    let seed = standard().generate(Generate {
        users: 5,
        groups: 2,
        projects: 30,
        memberships: 0,
        shares: 0,
        seed: 9,
    });
    let sim = start(seed).await;
    let r = get(
        &sim,
        "/api/v4/projects?pagination=keyset&per_page=20&order_by=id&sort=asc",
        Some(ROOT_TOKEN),
    )
    .await;
    assert!(r.header("link").unwrap().contains("id_after=20"));
    let r = get(
        &sim,
        "/api/v4/projects?pagination=keyset&order_by=name",
        Some(ROOT_TOKEN),
    )
    .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    let r = get(
        &sim,
        "/api/v4/projects/1/members?pagination=keyset",
        Some(ROOT_TOKEN),
    )
    .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        r.body,
        json!({"error": "Keyset pagination is not yet available for this type of request"})
    );
    // Groups offer keyset to unauthenticated requests only.
    let r = get(
        &sim,
        "/api/v4/groups?pagination=keyset&order_by=name&sort=asc",
        Some(ROOT_TOKEN),
    )
    .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn keyset_and_offset_list_the_same_records_including_bots() {
    let sim = start(many_users(30)).await;
    let offset: Vec<u64> = {
        let r = get(&sim, "/api/v4/users?per_page=100&sort=asc", Some(ROOT_TOKEN)).await;
        r.body
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["id"].as_u64().unwrap())
            .collect()
    };
    let keyset: Vec<u64> = {
        let r = get(
            &sim,
            "/api/v4/users?pagination=keyset&per_page=100&order_by=id&sort=asc",
            Some(ROOT_TOKEN),
        )
        .await;
        assert!(r.header("link").is_none(), "one page only: no Link");
        r.body
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["id"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(offset, keyset);
    let bots = sim
        .state()
        .read(|db| db.users.values().filter(|u| u.is_bot()).count());
    assert_eq!(bots, 1);
    assert_eq!(offset.len(), sim.state().read(|db| db.users.len()));
}

#[tokio::test]
async fn empty_seed_lists_nothing() {
    let sim = gitlab_sim::SimServer::start(Seed::default()).await.unwrap();
    let r = get(&sim, "/api/v4/projects", None).await;
    assert_eq!(r.body, json!([]));
    assert_eq!(r.header("x-total"), Some("0"));
}

#[tokio::test]
async fn large_generated_instance_builds_quickly_and_pages() {
    let t = std::time::Instant::now();
    let sim = start(standard().generate(Generate::large())).await;
    let built = t.elapsed();
    let (users, groups, projects, members) = sim.state().read(|db| {
        (
            db.users.len(),
            db.groups.len(),
            db.projects.len(),
            db.members.values().map(|m| m.len()).sum::<usize>(),
        )
    });
    assert!(users >= 20_000 && groups >= 2_000 && projects >= 50_000 && members >= 500_000);
    // Generous for unoptimised test builds on a shared machine; release builds take about a second.
    assert!(built < std::time::Duration::from_secs(60), "built in {built:?}");
    let r = get(&sim, "/api/v4/users?per_page=20", Some(ROOT_TOKEN)).await;
    assert_eq!(r.body.as_array().unwrap().len(), 20);
    assert!(r.header("x-total").is_none(), "more than 10,000 users");
    let r = get(&sim, "/api/v4/projects?per_page=100&page=500", Some(ROOT_TOKEN)).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = get(&sim, "/api/v4/projects?per_page=100&page=501", Some(ROOT_TOKEN)).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    let first = sim
        .state()
        .read(|db| db.projects.values().last().map(|p| p.full_path.clone()))
        .unwrap();
    assert!(sim.state().project_id(&first).is_some());
    assert!(
        !sim.state().repository_exists(&first),
        "repositories are created lazily"
    );
}
