//! The Secret scanning pages in process: pages need a session, every form is refused without its
//! token, the findings are filtered and paged from GET parameters, triage goes back to the same
//! view (and nowhere else), the live scans endpoint answers the page's script, the export takes
//! the session, refusals of the form are said beside their fields, and readers change nothing.

use axum::http::StatusCode;
use labgate_proto::api_keys::Role;
use serde_json::Value;

use crate::secret_scanning::{seed_findings, setup};
use crate::ui::{encode, form_token, get, log_in, post, text, with_user};

const FINDINGS: &str = "/secret-scanning/findings";
const SOURCES: &str = "/secret-scanning/data-sources";
const FIRST: &str = "0190a0a0-0000-7000-8000-000000000001";

fn rows(page: &str) -> usize {
    page.matches("data-finding-id=").count()
}

#[tokio::test]
async fn scanning_pages_filter_page_and_triage_findings_behind_their_tokens() {
    let (env, connection) = setup().await;
    let source = seed_findings(&env, &connection).await;
    with_user(&env, Role::Member).await;

    let anonymous = env.send(get(FINDINGS, "")).await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
    assert!(
        anonymous.headers["location"]
            .to_str()
            .unwrap()
            .starts_with("/login")
    );

    let session = log_in(&env).await;
    let list = env.send(get(SOURCES, &session)).await;
    assert_eq!(list.status, StatusCode::OK);
    let body = text(&list);
    assert!(body.contains(&format!(r#"data-source-id="{source}""#)), "{body}");
    assert!(body.contains("Project acme/api (#101)") && body.contains("Never scanned"));
    assert!(
        body.contains(r#"aria-current="page">Secret scanning<"#),
        "the navigation marks it"
    );
    let root = env.send(get("/secret-scanning", &session)).await;
    assert_eq!(root.headers["location"], SOURCES);

    let detail = env.send(get(&format!("{SOURCES}/{source}"), &session)).await;
    assert_eq!(detail.status, StatusCode::OK);
    let body = text(&detail);
    assert!(
        body.contains("Scan now") && body.contains(r#"aria-label="Scan acme/api""#),
        "{body}"
    );
    assert!(body.contains("No scan yet."));
    assert!(!body.contains("data-live=\"running\""), "nothing to follow");
    let token = form_token(&body);

    let live = env
        .send(get(&format!("{SOURCES}/{source}/scans.json"), &session))
        .await;
    assert_eq!(live.status, StatusCode::OK);
    assert_eq!(live.headers["cache-control"], "no-store");
    let live: Value = serde_json::from_slice(&live.body).unwrap();
    assert_eq!(live, serde_json::json!({"jobs": [], "running": false}));
    let unknown = env
        .send(get(
            &format!("{SOURCES}/0190a0a0-0000-7000-8000-0000000000ff/scans.json"),
            &session,
        ))
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    // Every form of these pages is refused without its token, or with another.
    for path in [
        format!("{SOURCES}/new"),
        format!("{SOURCES}/{source}/edit"),
        format!("{SOURCES}/{source}/delete"),
        format!("{SOURCES}/{source}/scan"),
        format!("{SOURCES}/{source}/resources/{FIRST}/scan"),
        format!("{FINDINGS}/{FIRST}"),
    ] {
        for form in ["status=resolved", "status=resolved&csrf_token=forged"] {
            let reply = env.send(post(&path, &session, form)).await;
            assert_eq!(reply.status, StatusCode::FORBIDDEN, "{path} {form}");
        }
    }

    let all = text(&env.send(get(FINDINGS, &session)).await);
    assert_eq!(rows(&all), 7);
    assert!(all.contains("7 findings") && all.contains("preview7"), "{all}");
    assert!(all.contains("Change status"));
    let aws = text(
        &env.send(get(&format!("{FINDINGS}?rule=aws-access-key"), &session))
            .await,
    );
    assert_eq!(rows(&aws), 3);
    assert!(
        aws.contains("/secret-scanning/findings/export?format=csv&amp;rule=aws-access-key"),
        "the export links keep the filters"
    );
    let by_path = text(
        &env.send(get(
            &format!("{FINDINGS}?path=app2&data_source={source}"),
            &session,
        ))
        .await,
    );
    assert_eq!(rows(&by_path), 1);
    let nothing = text(
        &env.send(get(&format!("{FINDINGS}?status=resolved"), &session))
            .await,
    );
    assert_eq!(rows(&nothing), 0);
    assert!(nothing.contains("No findings match these filters"));
    let beyond = env.send(get(&format!("{FINDINGS}?offset=25"), &session)).await;
    assert_eq!(beyond.status, StatusCode::OK);
    assert_eq!(rows(&text(&beyond)), 0);
    let unknown_source = env
        .send(get(&format!("{FINDINGS}?data_source=nope"), &session))
        .await;
    assert_eq!(unknown_source.status, StatusCode::NOT_FOUND);

    // Triage goes back to the same filtered view, and only there.
    let triage = |status: &str, back: &str| {
        format!(
            "csrf_token={}&status={status}&remarks={}&back={}",
            encode(&token),
            encode("Revoked at GitLab"),
            encode(back)
        )
    };
    let done = env
        .send(post(
            &format!("{FINDINGS}/{FIRST}"),
            &session,
            &triage("false-positive", "status=unresolved&rule=gitlab-pat&offset=25"),
        ))
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", text(&done));
    assert_eq!(
        done.headers["location"],
        "/secret-scanning/findings?status=unresolved&rule=gitlab-pat&offset=25"
    );
    let after = text(
        &env.send(get(&format!("{FINDINGS}?status=false-positive"), &session))
            .await,
    );
    assert_eq!(rows(&after), 1);
    assert!(after.contains("Revoked at GitLab") && after.contains("False positive"));
    for back in ["//evil.example/", "https://evil.example/", "\r\nLocation: /x"] {
        let elsewhere = env
            .send(post(
                &format!("{FINDINGS}/{FIRST}"),
                &session,
                &triage("resolved", back),
            ))
            .await;
        assert_eq!(elsewhere.headers["location"], FINDINGS, "{back:?}");
    }
    let bad_status = env
        .send(post(
            &format!("{FINDINGS}/{FIRST}"),
            &session,
            &triage("open", ""),
        ))
        .await;
    assert_eq!(bad_status.status, StatusCode::SEE_OTHER);
    let missing = env
        .send(post(
            &format!("{FINDINGS}/0190a0a0-0000-7000-8000-0000000000ff"),
            &session,
            &triage("resolved", ""),
        ))
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    let csv = env
        .send(get(
            "/secret-scanning/findings/export?format=csv&rule=gitlab-pat",
            &session,
        ))
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(
        csv.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        csv.headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("labgate-findings.csv")
    );
    assert_eq!(text(&csv).lines().count(), 1 + 4 * 2, "{}", text(&csv));

    // A project the connection cannot see is said beside its field; what was typed stays.
    let refused = env
        .send(post(
            &format!("{SOURCES}/new"),
            &session,
            &format!(
                "csrf_token={}&name=nowhere&description=&connection_id={connection}&scope=project&target={}&include_projects=*",
                encode(&token),
                encode("acme/nowhere")
            ),
        ))
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    let body = text(&refused);
    assert!(body.contains(r#"id="field-target-error""#), "{body}");
    assert!(body.contains(r#"value="nowhere""#));
    let added = env
        .send(post(
            &format!("{SOURCES}/new"),
            &session,
            &format!(
                "csrf_token={}&name=api&description=&connection_id={connection}&scope=project&target={}&include_projects=",
                encode(&token),
                encode("acme/api")
            ),
        ))
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", text(&added));
    let added_path = added.headers["location"].to_str().unwrap().to_owned();
    let page = text(&env.send(get(&added_path, &session)).await);
    assert!(page.contains("Auto-scan"), "{page}");
    assert!(page.contains("Off"), "auto-scan stays off when unchecked");

    // A group with the projects to scan, one a line; one it does not hold is said beside them.
    let group = |name: &str, include: &str| {
        format!(
            "csrf_token={}&name={name}&description=&connection_id={connection}&scope=group&target=acme&include_projects={}",
            encode(&token),
            encode(include)
        )
    };
    let missing_project = env
        .send(post(
            &format!("{SOURCES}/new"),
            &session,
            &group("platform", "acme/api\nacme/none"),
        ))
        .await;
    assert_eq!(missing_project.status, StatusCode::UNPROCESSABLE_ENTITY);
    let body = text(&missing_project);
    assert!(
        body.contains(r#"id="field-include_projects-error""#) && body.contains("acme/none"),
        "{body}"
    );
    let grouped = env
        .send(post(
            &format!("{SOURCES}/new"),
            &session,
            &group("platform", "acme/api\n"),
        ))
        .await;
    assert_eq!(grouped.status, StatusCode::SEE_OTHER, "{}", text(&grouped));
    let grouped_page = text(
        &env.send(get(grouped.headers["location"].to_str().unwrap(), &session))
            .await,
    );
    assert!(
        grouped_page.contains("(1 project)")
            && grouped_page.contains(r#"<li class="chip mono">acme/api</li>"#),
        "{grouped_page}"
    );

    let deleted = env
        .send(post(
            &format!("{added_path}/delete"),
            &session,
            &format!("csrf_token={}", encode(&token)),
        ))
        .await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    assert_eq!(deleted.headers["location"], SOURCES);
    assert_eq!(
        env.send(get(&added_path, &session)).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn readers_see_findings_and_scans_without_the_buttons_that_change_them() {
    let (env, connection) = setup().await;
    let source = seed_findings(&env, &connection).await;
    with_user(&env, Role::Reader).await;
    let session = log_in(&env).await;

    let findings = text(&env.send(get(FINDINGS, &session)).await);
    assert_eq!(rows(&findings), 7);
    assert!(!findings.contains("Change status"));
    let list = text(&env.send(get(SOURCES, &session)).await);
    assert!(!list.contains("Add data source"));
    let detail = text(&env.send(get(&format!("{SOURCES}/{source}"), &session)).await);
    assert!(!detail.contains("Scan now") && !detail.contains("delete-source"));
    assert_eq!(
        env.send(get(&format!("{SOURCES}/new"), &session)).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        env.send(get(&format!("{SOURCES}/{source}/edit"), &session))
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    // Posts with a good token are refused by role.
    let token = form_token(&findings);
    let form = format!("csrf_token={}&status=resolved&remarks=", encode(&token));
    for path in [
        format!("{FINDINGS}/{FIRST}"),
        format!("{SOURCES}/{source}/scan"),
        format!("{SOURCES}/{source}/delete"),
    ] {
        let reply = env.send(post(&path, &session, &form)).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{path}: {}", text(&reply));
    }
    let unchanged = text(
        &env.send(get(&format!("{FINDINGS}?status=unresolved"), &session))
            .await,
    );
    assert_eq!(rows(&unchanged), 7);
}
