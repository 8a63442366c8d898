//! The Access pages in process: they need a session; a source's accounts, tree, grants and syncs
//! read its newest successful sync; a sync's changes put new admins and owners first; the export
//! links take the session; another tenant's source or a failed sync's changes are refused.

use axum::http::StatusCode;
use labgate_proto::api_keys::Role;
use labgate_testkit::START_MS;
use labgate_testkit::access::seed_access;

use crate::secret_scanning::setup;
use crate::ui::{cookie_value, form_token, get, log_in, post, set_cookie, text, with_user};

#[tokio::test]
async fn access_pages_show_the_newest_successful_sync_of_a_source() {
    let (env, connection) = setup().await;
    let fixture = seed_access(&env.store, env.admin.tenant_id.as_str(), &connection, START_MS).await;
    let source = fixture.source_id.as_str();
    with_user(&env, Role::Reader).await;

    let anonymous = env.send(get("/access/sources", "")).await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
    let session = log_in(&env).await;

    let root = env.send(get("/access", &session)).await;
    assert_eq!(root.headers["location"], "/access/sources");
    let list = text(&env.send(get("/access/sources", &session)).await);
    assert!(
        list.contains(r#"aria-current="page">Access<"#),
        "the navigation marks it"
    );
    assert!(list.contains(&format!(r#"data-source-id="{source}""#)), "{list}");
    assert!(list.contains("acme-gitlab") && list.contains("new-instance"));
    assert!(list.contains(r#"data-sync-status="failed""#) && list.contains(r#"data-sync-status="queued""#));
    assert!(list.contains("Group acme"));

    let to_accounts = env
        .send(get(&format!("/access/sources/{source}"), &session))
        .await;
    assert_eq!(
        to_accounts.headers["location"],
        format!("/access/sources/{source}/accounts").as_str()
    );
    let accounts = text(
        &env.send(get(&format!("/access/sources/{source}/accounts"), &session))
            .await,
    );
    assert_eq!(accounts.matches("data-account=").count(), 9);
    assert!(accounts.contains(r#"data-account="heidi""#) && !accounts.contains(r#"data-account="dave""#));
    assert!(accounts.contains("Service account") && accounts.contains("Administrator"));
    assert!(accounts.contains("ldapmain"), "identities are shown");
    // How changes arrive: this source never had a webhook, so only its full syncs see them.
    assert!(
        accounts.contains(r#"data-updates="sweeps""#) && accounts.contains("no webhook is installed"),
        "{accounts}"
    );
    // The failed newest sync is said, and what is shown is the older one.
    assert!(
        accounts.contains(&format!(r#"data-failed-sync="{}""#, fixture.failed_run))
            && accounts.contains("GitLab answered 503"),
        "{accounts}"
    );
    assert!(accounts.contains(&format!("/access/sources/{source}/accounts/export?format=csv")));
    assert!(!accounts.contains("Sync now"), "readers cannot sync");
    let searched = text(
        &env.send(get(
            &format!("/access/sources/{source}/accounts?search=gra"),
            &session,
        ))
        .await,
    );
    assert_eq!(searched.matches("data-account=").count(), 1);
    assert!(searched.contains(r#"data-account="grace""#));

    let tree = text(
        &env.send(get(&format!("/access/sources/{source}/resources"), &session))
            .await,
    );
    // Nested: terraform sits inside infra, inside platform, inside acme.
    let at = |path: &str| {
        tree.find(&format!(r#"data-resource="{path}""#))
            .unwrap_or_else(|| panic!("{path} in {tree}"))
    };
    assert!(at("acme") < at("acme/platform"));
    assert!(at("acme/platform") < at("acme/platform/infra"));
    assert!(at("acme/platform/infra") < at("acme/platform/infra/terraform"));
    assert!(tree.contains("5 groups and 3 projects"));
    assert!(tree.contains(&format!(
        "/access/sources/{source}/grants?resource=acme%2Fplatform%2Finfra%2Fterraform"
    )));

    let grants = text(
        &env.send(get(
            &format!("/access/sources/{source}/grants?account=frank"),
            &session,
        ))
        .await,
    );
    assert_eq!(grants.matches("data-grant=").count(), 5);
    assert!(
        grants.contains("shared via group partners, capped at Developer"),
        "{grants}"
    );
    let api = text(
        &env.send(get(
            &format!("/access/sources/{source}/grants?resource=acme/platform/api"),
            &session,
        ))
        .await,
    );
    assert!(api.contains("inherited via group acme"));
    assert!(api.contains("Custom role: <strong>Security Auditor</strong>"));
    assert!(api.contains(r#"data-path="direct""#));

    let syncs = text(
        &env.send(get(&format!("/access/sources/{source}/syncs"), &session))
            .await,
    );
    assert_eq!(syncs.matches("data-sync-id=").count(), 3);
    assert!(syncs.contains(&format!("/access/syncs/{}/diff", fixture.second_run)));
    assert!(!syncs.contains(&format!("/access/syncs/{}/diff", fixture.failed_run)));

    let diff = text(
        &env.send(get(
            &format!("/access/syncs/{}/diff", fixture.second_run),
            &session,
        ))
        .await,
    );
    assert!(diff.contains("New administrators") && diff.contains(r#"data-account="carol""#));
    assert!(diff.contains("New owners") && diff.contains(r#"data-grant="bob acme/platform""#));
    assert!(
        diff.contains(r#"data-grant="heidi acme/website""#) && diff.contains(r#"data-grant="dave acme""#)
    );
    assert!(
        diff.find("New administrators") < diff.find("Added grants"),
        "highlights first"
    );
    let failed = env
        .send(get(
            &format!("/access/syncs/{}/diff", fixture.failed_run),
            &session,
        ))
        .await;
    assert_eq!(failed.status, StatusCode::CONFLICT);

    let export = env
        .send(get(
            &format!("/access/sources/{source}/grants/export?format=csv&account=frank"),
            &session,
        ))
        .await;
    assert_eq!(export.status, StatusCode::OK);
    assert_eq!(export.headers["content-type"], "text/csv; charset=utf-8");
    assert_eq!(text(&export).lines().count(), 6);

    let empty = text(
        &env.send(get(
            &format!("/access/sources/{}/grants", fixture.unsynced_source_id),
            &session,
        ))
        .await,
    );
    assert!(empty.contains("Nothing synced yet") && empty.contains("first sync is under way"));
    let unknown = env
        .send(get(
            "/access/sources/0190a0a0-0000-7000-8000-0000000000ff/accounts",
            &session,
        ))
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let junk = env
        .send(get("/access/sources/..%2F..%2Fetc/grants", &session))
        .await;
    assert_eq!(junk.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn members_sync_a_source_from_its_pages_once_at_a_time() {
    let (env, connection) = setup().await;
    let fixture = seed_access(&env.store, env.admin.tenant_id.as_str(), &connection, START_MS).await;
    let source = fixture.source_id.as_str();
    with_user(&env, Role::Member).await;
    let session = log_in(&env).await;
    let page = text(
        &env.send(get(&format!("/access/sources/{source}/grants"), &session))
            .await,
    );
    assert!(page.contains("Sync now"), "{page}");
    let token = form_token(&page);
    let path = format!("/access/sources/{source}/sync");
    let refused = env.send(post(&path, &session, "csrf_token=wrong")).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let queued = env
        .send(post(&path, &session, &format!("csrf_token={token}")))
        .await;
    assert_eq!(queued.status, StatusCode::SEE_OTHER);
    let syncs_path = format!("/access/sources/{source}/syncs");
    assert_eq!(queued.headers["location"], syncs_path.as_str());
    let flash = cookie_value(set_cookie(&queued, "labgate_flash").unwrap());
    let syncs = text(
        &env.send(get(&syncs_path, &format!("{session}; labgate_flash={flash}")))
            .await,
    );
    assert!(
        syncs.contains("flash success") && syncs.contains("Sync queued"),
        "{syncs}"
    );
    assert_eq!(syncs.matches("data-sync-id=").count(), 4, "{syncs}");
    assert!(syncs.contains(r#"data-sync-status="queued""#));

    // One sync at a time: the second is refused, said in the page.
    let again = env
        .send(post(&path, &session, &format!("csrf_token={token}")))
        .await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    let flash = cookie_value(set_cookie(&again, "labgate_flash").unwrap());
    let flashed = text(
        &env.send(get(&syncs_path, &format!("{session}; labgate_flash={flash}")))
            .await,
    );
    assert!(flashed.contains("flash error"), "{flashed}");
    assert_eq!(flashed.matches("data-sync-id=").count(), 4);
}
