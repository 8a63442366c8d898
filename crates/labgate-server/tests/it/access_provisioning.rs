//! `/api/v1/access/provisioning`: account creation (self-managed) and invitation (GitLab.com),
//! grants and level changes, revokes of direct and inherited access, the deprovisioning ladder,
//! dry runs that change nothing at GitLab, failing and interrupted operations, account
//! resolution by e-mail, and refusals of bad input.

use gitlab_sim::seed::SeedUser;
use gitlab_sim::{FaultRule, Mode, Seed, UserState};
use labgate_core::failpoints;
use labgate_store::AccessSourceRecord;
use labgate_testkit::{Reply, TestEnv};
use serde_json::{Value, json};

const BASE: &str = "/api/v1/access/provisioning";
const ROOT: &str = "glpat-rootROOTroot12345678";
const OLIVE: &str = "glpat-oliveOLIVEolive1234";
const BOB: &str = "glpat-bobBOBbob1234567890";

/// A self-managed instance, synced and provisioned through its administrator `root`.
///
/// - `alice` is a Maintainer of `acme`, so she inherits Maintainer everywhere below it;
/// - `bob` is a Developer of `acme/api` and of `acme/platform`, holds a token and has a pending
///   invitation by e-mail to `acme/platform/web`;
/// - `carol` holds nothing; `erin` is a Maintainer of `partners`, shared with `acme/api` at
///   Reporter; `pat` and `patricia` both show the address `pat@example.com`.
fn instance_seed() -> Seed {
    Seed::builder()
        .mode(Mode::SelfManaged)
        .admin("root")
        .user("alice")
        .user("bob")
        .user("carol")
        .user("erin")
        .user("pat")
        .user_full(SeedUser {
            username: "patricia".into(),
            name: "Patricia".into(),
            email: "patricia@example.com".into(),
            public_email: Some("pat@example.com".into()),
            ..SeedUser::default()
        })
        .group("acme", "Acme")
        .group("acme/platform", "Platform")
        .group("partners", "Partners")
        .project("acme/api", "API")
        .project("acme/platform/web", "Web")
        .member("acme", "alice", 40)
        .member("acme/api", "bob", 30)
        .member("acme/platform", "bob", 30)
        .member("partners", "erin", 40)
        .share("acme/api", "partners", 20)
        .member_role(None, "Auditor", 20)
        .invitation("acme/platform/web", "bob@example.com", 30)
        .personal_token("root", "labgate", &["api"], ROOT)
        .personal_token("bob", "laptop", &["api"], BOB)
        .build()
}

/// GitLab.com: the top-level group `acme`, owned by `olive`; `dave` is a Developer of
/// `acme/platform` and a Reporter of `acme/platform/web`; `pending@example.com` is invited.
fn gitlab_com_seed() -> Seed {
    Seed::builder()
        .mode(Mode::GitLabCom)
        .user("olive")
        .user("dave")
        .group("acme", "Acme")
        .group("acme/platform", "Platform")
        .project("acme/platform/web", "Web")
        .member("acme", "olive", 50)
        .member("acme/platform", "dave", 30)
        .member("acme/platform/web", "dave", 20)
        .invitation("acme/platform", "pending@example.com", 10)
        .personal_token("olive", "labgate", &["api"], OLIVE)
        .build()
}

/// An environment with a connection through `token` and an access source of `scope` over it.
async fn setup(seed: Seed, token: &str, scope: &str, group: Option<&str>) -> (TestEnv, String) {
    let env = TestEnv::builder().sim(seed).build().await;
    let url = env.sim().url().to_owned();
    let reply = env
        .call(
            "POST",
            "/api/v1/app-connections/gitlab",
            &env.admin_key,
            Some(json!({"name": "provisioner", "method": "access-token",
                "credentials": {"accessToken": token, "instanceUrl": url, "accessTokenType": "personal"}})),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    let connection = reply.json()["appConnection"]["id"].as_str().unwrap().to_owned();
    let now = env.clock_ms();
    let source = env
        .store
        .insert_access_source(&AccessSourceRecord {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: env.tenant.id.to_string(),
            name: "gitlab".into(),
            connection_id: connection,
            scope_kind: scope.into(),
            scope_full_path: group.map(str::to_owned),
            status: "idle".into(),
            last_run_id: None,
            version: 1,
            created_at: now,
            updated_at: now,
        })
        .await
        .unwrap();
    env.sim().requests().reset();
    (env, source.id)
}

async fn instance() -> (TestEnv, String) {
    setup(instance_seed(), ROOT, "instance", None).await
}

async fn gitlab_com() -> (TestEnv, String) {
    setup(gitlab_com_seed(), OLIVE, "group", Some("acme")).await
}

trait ClockMs {
    fn clock_ms(&self) -> i64;
}

impl ClockMs for TestEnv {
    fn clock_ms(&self) -> i64 {
        let now = self.services.clock.now();
        i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap()
    }
}

async fn provision(env: &TestEnv, source: &str, body: Value) -> Reply {
    let mut body = body;
    body["sourceId"] = json!(source);
    env.call("POST", BASE, &env.admin_key, Some(body)).await
}

/// Provisions and expects a 200; the operation.
async fn ok(env: &TestEnv, source: &str, body: Value) -> Value {
    let reply = provision(env, source, body).await;
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    reply.json()["operation"].clone()
}

fn steps(operation: &Value) -> Vec<(String, String)> {
    operation["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

/// A user's direct level in a group or project at the simulator, and its custom role.
fn direct(env: &TestEnv, source: &str, username: &str) -> Option<(u8, Option<u64>)> {
    env.sim().state().read(|db| {
        let s = db.source_by_path(source)?;
        let u = db.user_by_username(username)?.id;
        db.members
            .get(&s)?
            .get(&u)
            .map(|m| (m.access_level, m.member_role_id))
    })
}

fn user_state(env: &TestEnv, username: &str) -> Option<UserState> {
    env.sim()
        .state()
        .read(|db| db.user_by_username(username).map(|u| u.state))
}

fn invited(env: &TestEnv, source: &str, email: &str) -> bool {
    env.sim().state().read(|db| {
        let Some(s) = db.source_by_path(source) else {
            return false;
        };
        db.invitations
            .values()
            .any(|i| i.source == s && i.email.eq_ignore_ascii_case(email))
    })
}

fn writes(env: &TestEnv) -> u64 {
    env.sim().requests().writes("/")
}

#[tokio::test]
async fn creating_an_account_on_self_managed_plans_first_then_posts_the_user() {
    let (env, source) = instance().await;
    let body = json!({"action": "create-account", "account": "newbie", "email": "newbie@example.com",
        "name": "New Bie", "dryRun": true});
    let planned = ok(&env, &source, body.clone()).await;
    assert_eq!(planned["status"], "planned");
    assert_eq!(planned["dryRun"], true);
    assert_eq!(steps(&planned), pairs(&[("create-user", "pending")]));
    let message = planned["steps"][0]["message"].as_str().unwrap();
    assert!(message.contains("link to set the password"), "{message}");
    assert_eq!(writes(&env), 0, "a dry run writes nothing at GitLab");
    assert!(env.sim().state().user_id("newbie").is_none());

    let mut real = body;
    real["dryRun"] = json!(false);
    let done = ok(&env, &source, real.clone()).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(steps(&done), pairs(&[("create-user", "applied")]));
    let (email, confirmed) = env.sim().state().read(|db| {
        let u = db.user_by_username("newbie").unwrap();
        (u.email.clone(), u.confirmed_at.is_some())
    });
    assert_eq!(email, "newbie@example.com");
    assert!(
        !confirmed,
        "without skipConfirmation the address must be confirmed first"
    );

    // A taken username is refused before anything is sent.
    let again = provision(&env, &source, real).await;
    let error = again.error(422, "UnprocessableEntity");
    assert!(error["message"].as_str().unwrap().contains("taken"), "{error}");

    // A random password nobody is told: neither the answer nor the operation holds it.
    let random = ok(
        &env,
        &source,
        json!({"action": "create-account", "account": "quiet", "email": "quiet@example.com",
            "resetPassword": false, "skipConfirmation": true}),
    )
    .await;
    assert_eq!(random["status"], "succeeded");
    assert!(
        env.sim()
            .state()
            .read(|db| db.user_by_username("quiet").unwrap().confirmed_at.is_some())
    );
    let text = random.to_string();
    assert!(!text.contains("\"password\""), "{text}");
    let shown = env
        .get(
            &format!("{BASE}/{}", random["id"].as_str().unwrap()),
            Some(&env.admin_key),
        )
        .await;
    assert!(!String::from_utf8_lossy(&shown.body).contains("\"password\""));
}

#[tokio::test]
async fn creating_an_account_on_gitlab_com_invites_the_address_to_the_group() {
    let (env, source) = gitlab_com().await;
    let body = json!({"action": "create-account", "account": "new@example.com", "accessLevel": 15,
        "dryRun": true});
    let planned = ok(&env, &source, body.clone()).await;
    assert_eq!(steps(&planned), pairs(&[("invite", "pending")]));
    assert_eq!(planned["steps"][0]["target"], "group acme");
    assert_eq!(writes(&env), 0);
    assert!(!invited(&env, "acme", "new@example.com"));

    let mut real = body;
    real["dryRun"] = json!(false);
    let done = ok(&env, &source, real.clone()).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let level = env.sim().state().read(|db| {
        let s = db.source_by_path("acme").unwrap();
        db.invitations
            .values()
            .find(|i| i.source == s && i.email == "new@example.com")
            .map(|i| i.access_level)
    });
    assert_eq!(level, Some(15), "invited as a Planner");

    // Invited already: nothing to do.
    let again = ok(&env, &source, real).await;
    assert_eq!(again["status"], "unchanged");
    assert_eq!(steps(&again), pairs(&[("invite", "skipped")]));

    // GitLab.com offers no account creation without an e-mail to invite, and needs a level.
    let no_level = provision(
        &env,
        &source,
        json!({"action": "create-account", "account": "x@example.com"}),
    )
    .await;
    no_level.error(400, "BadRequest");
}

#[tokio::test]
async fn a_grant_adds_a_member_and_a_second_grant_changes_the_level_in_place() {
    let (env, source) = instance().await;
    let planned = ok(
        &env,
        &source,
        json!({"action": "grant", "account": "carol", "resource": "acme/api", "accessLevel": 30,
            "dryRun": true}),
    )
    .await;
    assert_eq!(steps(&planned), pairs(&[("add-member", "pending")]));
    assert_eq!(writes(&env), 0);
    assert_eq!(direct(&env, "acme/api", "carol"), None);

    let added = ok(
        &env,
        &source,
        json!({"action": "grant", "account": "carol", "resource": "acme/api", "accessLevel": 30}),
    )
    .await;
    assert_eq!(added["status"], "succeeded", "{added}");
    assert_eq!(added["account"]["username"], "carol");
    assert_eq!(direct(&env, "acme/api", "carol"), Some((30, None)));

    // An existing direct member gets a PUT, never a POST that GitLab would answer with 409.
    env.sim().requests().reset();
    let changed = ok(
        &env,
        &source,
        json!({"action": "grant", "account": "carol", "resource": "acme/api", "accessLevel": 40}),
    )
    .await;
    assert_eq!(steps(&changed), pairs(&[("change-level", "applied")]));
    assert_eq!(direct(&env, "acme/api", "carol"), Some((40, None)));
    let counters = env.sim().requests();
    assert_eq!(
        counters.total("PUT", "/api/v4/projects/{id}/members/{user_id}"),
        1
    );
    assert_eq!(counters.total("POST", "/api/v4/projects/{id}/members"), 0);

    // The same grant again: nothing to do.
    let same = ok(
        &env,
        &source,
        json!({"action": "grant", "account": "carol", "resource": "acme/api", "accessLevel": 40}),
    )
    .await;
    assert_eq!(same["status"], "unchanged");

    // Every level GitLab has, Planner included, with an expiry; and a custom role on its base.
    let planner = ok(
        &env,
        &source,
        json!({"action": "grant", "account": "carol", "resource": "acme/platform/web", "accessLevel": 15,
            "expiresAt": "2099-12-31"}),
    )
    .await;
    assert_eq!(planner["status"], "succeeded", "{planner}");
    assert_eq!(direct(&env, "acme/platform/web", "carol"), Some((15, None)));
    let minimal = ok(
        &env,
        &source,
        json!({"action": "grant", "account": "carol", "resource": "partners", "accessLevel": 5}),
    )
    .await;
    assert_eq!(minimal["status"], "succeeded", "{minimal}");
    assert_eq!(direct(&env, "partners", "carol"), Some((5, None)));
    let custom = ok(
        &env,
        &source,
        json!({"action": "grant", "account": "carol", "resource": "acme/platform", "accessLevel": 20,
            "memberRoleId": 1}),
    )
    .await;
    assert_eq!(custom["status"], "succeeded", "{custom}");
    assert_eq!(direct(&env, "acme/platform", "carol"), Some((20, Some(1))));
}

#[tokio::test]
async fn a_grant_made_moot_by_inherited_access_is_explained_from_live_reads() {
    let (env, source) = instance().await;
    // Alice is a Maintainer of acme: a Developer grant on acme/api adds nothing.
    let moot = ok(
        &env,
        &source,
        json!({"action": "grant", "account": "alice", "resource": "acme/api", "accessLevel": 30}),
    )
    .await;
    assert_eq!(moot["status"], "unchanged", "{moot}");
    assert_eq!(steps(&moot), pairs(&[("add-member", "skipped")]));
    let message = moot["steps"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("group acme") && message.contains("Maintainer"),
        "{message}"
    );
    assert_eq!(writes(&env), 0);
    assert_eq!(direct(&env, "acme/api", "alice"), None);

    // Higher than what she inherits: granted.
    let owner = ok(
        &env,
        &source,
        json!({"action": "grant", "account": "alice", "resource": "acme/api", "accessLevel": 50}),
    )
    .await;
    assert_eq!(owner["status"], "succeeded", "{owner}");
    assert_eq!(direct(&env, "acme/api", "alice"), Some((50, None)));

    // Erin reaches acme/api as a Reporter through the share with partners.
    let shared = ok(
        &env,
        &source,
        json!({"action": "grant", "account": "erin", "resource": "acme/api", "accessLevel": 20}),
    )
    .await;
    assert_eq!(shared["status"], "unchanged", "{shared}");
    let message = shared["steps"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("group partners") && message.contains("shared"),
        "{message}"
    );

    // Bob is a direct Developer of acme/platform and of acme/api; a direct grant below what a
    // group above gives is refused, as GitLab would.
    env.sim().state().set_member("acme", "bob", 40).unwrap();
    let below = provision(
        &env,
        &source,
        json!({"action": "grant", "account": "bob", "resource": "acme/api", "accessLevel": 20}),
    )
    .await;
    let error = below.error(422, "UnprocessableEntity");
    assert!(error["message"].as_str().unwrap().contains("inherits"), "{error}");
}

#[tokio::test]
async fn a_revoke_of_inherited_access_names_the_group_and_offers_removal_there() {
    let (env, source) = instance().await;
    let blocked = ok(
        &env,
        &source,
        json!({"action": "revoke", "account": "alice", "resource": "acme/platform/web"}),
    )
    .await;
    assert_eq!(blocked["status"], "blocked", "{blocked}");
    assert_eq!(
        steps(&blocked),
        pairs(&[("remove-member", "skipped"), ("remove-at-source", "offered")])
    );
    assert_eq!(blocked["steps"][1]["target"], "group acme");
    assert_eq!(writes(&env), 0, "nothing is pretended: nothing was removed");
    assert_eq!(direct(&env, "acme", "alice"), Some((40, None)));

    let at_source = ok(
        &env,
        &source,
        json!({"action": "revoke", "account": "alice", "resource": "acme/platform/web",
            "steps": ["remove-at-source"]}),
    )
    .await;
    assert_eq!(at_source["status"], "succeeded", "{at_source}");
    assert_eq!(direct(&env, "acme", "alice"), None);

    // A direct membership is removed; one that remains inherited leaves the operation partial.
    let removed = ok(
        &env,
        &source,
        json!({"action": "revoke", "account": "bob", "resource": "acme/api"}),
    )
    .await;
    assert_eq!(removed["status"], "succeeded");
    assert_eq!(direct(&env, "acme/api", "bob"), None);
    env.sim()
        .state()
        .set_member("acme/platform/web", "bob", 40)
        .unwrap();
    let still = ok(
        &env,
        &source,
        json!({"action": "revoke", "account": "bob", "resource": "acme/platform/web"}),
    )
    .await;
    assert_eq!(still["status"], "partial", "{still}");
    assert_eq!(
        steps(&still),
        pairs(&[("remove-member", "applied"), ("remove-at-source", "offered")])
    );
    assert!(still["message"].as_str().unwrap().contains("acme/platform"));
}

#[tokio::test]
async fn deprovisioning_runs_the_chosen_ladder_in_a_safe_order_and_delete_needs_confirmation() {
    let (env, source) = instance().await;
    let planned = ok(
        &env,
        &source,
        json!({"action": "deprovision", "account": "bob", "dryRun": true,
            "steps": ["block", "remove-memberships", "revoke-tokens", "cancel-invitations"]}),
    )
    .await;
    assert_eq!(
        steps(&planned),
        pairs(&[
            ("cancel-invitations", "pending"),
            ("revoke-tokens", "pending"),
            ("remove-memberships", "pending"),
            ("remove-memberships", "pending"),
            ("block", "pending"),
        ])
    );
    assert_eq!(writes(&env), 0);

    // Delete without the username typed out: refused before anything runs.
    let unconfirmed = provision(
        &env,
        &source,
        json!({"action": "deprovision", "account": "bob", "steps": ["revoke-tokens", "delete"]}),
    )
    .await;
    let error = unconfirmed.error(422, "UnprocessableEntity");
    assert_eq!(error["details"][0]["field"], "confirm");
    let wrong = provision(
        &env,
        &source,
        json!({"action": "deprovision", "account": "bob", "steps": ["delete"], "confirm": "alice"}),
    )
    .await;
    wrong.error(422, "UnprocessableEntity");
    assert_eq!(writes(&env), 0);

    let done = ok(
        &env,
        &source,
        json!({"action": "deprovision", "account": "bob",
            "steps": ["block", "remove-memberships", "revoke-tokens", "cancel-invitations"]}),
    )
    .await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert!(
        steps(&done).iter().all(|(_, status)| status == "applied"),
        "{done}"
    );
    assert!(!invited(&env, "acme/platform/web", "bob@example.com"));
    assert!(env.sim().state().token(BOB).unwrap().revoked);
    assert_eq!(direct(&env, "acme/api", "bob"), None);
    assert_eq!(direct(&env, "acme/platform", "bob"), None);
    assert_eq!(user_state(&env, "bob"), Some(UserState::Blocked));

    let deleted = ok(
        &env,
        &source,
        json!({"action": "deprovision", "account": "bob", "steps": ["delete"], "confirm": "bob"}),
    )
    .await;
    assert_eq!(deleted["status"], "succeeded", "{deleted}");
    assert_eq!(user_state(&env, "bob"), None);

    // Block and deactivate exclude each other.
    let both = provision(
        &env,
        &source,
        json!({"action": "deprovision", "account": "carol", "steps": ["block", "deactivate"]}),
    )
    .await;
    both.error(422, "UnprocessableEntity");
    let deactivated = ok(
        &env,
        &source,
        json!({"action": "deprovision", "account": "carol", "steps": ["deactivate"]}),
    )
    .await;
    assert_eq!(deactivated["status"], "succeeded", "{deactivated}");
    assert_eq!(user_state(&env, "carol"), Some(UserState::Deactivated));
}

#[tokio::test]
async fn deprovisioning_on_gitlab_com_removes_billable_membership_and_refuses_admin_steps() {
    let (env, source) = gitlab_com().await;
    let planned = ok(
        &env,
        &source,
        json!({"action": "deprovision", "account": "dave", "steps": ["remove-memberships"], "dryRun": true}),
    )
    .await;
    assert_eq!(steps(&planned), pairs(&[("remove-memberships", "pending")]));
    let message = planned["steps"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("Platform") && message.contains("Web"),
        "{message}"
    );
    assert_eq!(writes(&env), 0);

    let done = ok(
        &env,
        &source,
        json!({"action": "deprovision", "account": "dave", "steps": ["remove-memberships"]}),
    )
    .await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(
        env.sim()
            .requests()
            .total("DELETE", "/api/v4/groups/{id}/billable_members/{user_id}"),
        1
    );
    assert_eq!(direct(&env, "acme/platform", "dave"), None);
    assert_eq!(direct(&env, "acme/platform/web", "dave"), None);

    for step in ["block", "deactivate", "revoke-tokens", "delete"] {
        let refused = provision(
            &env,
            &source,
            json!({"action": "deprovision", "account": "olive", "steps": [step], "confirm": "olive"}),
        )
        .await;
        refused.error(422, "UnprocessableEntity");
    }

    // Cancelling invitations covers the group's whole hierarchy.
    let cancelled = ok(
        &env,
        &source,
        json!({"action": "deprovision", "account": "pending@example.com", "steps": ["cancel-invitations"]}),
    )
    .await;
    assert_eq!(cancelled["status"], "succeeded", "{cancelled}");
    assert!(!invited(&env, "acme/platform", "pending@example.com"));
}

#[tokio::test]
async fn a_failing_step_stops_the_ladder_and_resuming_finishes_it() {
    let (env, source) = instance().await;
    env.sim().faults().add(FaultRule {
        route: Some("/api/v4/projects/{id}/members/{user_id}".to_owned()),
        method: Some("DELETE".to_owned()),
        error_500: 1.0,
        ..FaultRule::default()
    });
    let partial = ok(
        &env,
        &source,
        json!({"action": "deprovision", "account": "bob", "steps": ["revoke-tokens", "remove-memberships", "block"]}),
    )
    .await;
    assert_eq!(partial["status"], "partial", "{partial}");
    let got = steps(&partial);
    assert_eq!(got[0], ("revoke-tokens".to_owned(), "applied".to_owned()));
    assert!(
        got.contains(&("remove-memberships".to_owned(), "failed".to_owned())),
        "{partial}"
    );
    assert_eq!(got.last().unwrap(), &("block".to_owned(), "not-run".to_owned()));
    assert!(
        partial["message"]
            .as_str()
            .unwrap()
            .contains("remove-memberships failed")
    );
    assert!(env.sim().state().token(BOB).unwrap().revoked);
    assert_eq!(direct(&env, "acme/api", "bob"), Some((30, None)));
    assert_eq!(user_state(&env, "bob"), Some(UserState::Active));

    env.sim().faults().clear();
    env.sim().requests().reset();
    let id = partial["id"].as_str().unwrap();
    let resumed = env
        .call("POST", &format!("{BASE}/{id}/resume"), &env.admin_key, None)
        .await;
    assert_eq!(resumed.status, 200, "{}", String::from_utf8_lossy(&resumed.body));
    let resumed = resumed.json()["operation"].clone();
    assert_eq!(resumed["status"], "succeeded", "{resumed}");
    assert_eq!(direct(&env, "acme/api", "bob"), None);
    assert_eq!(user_state(&env, "bob"), Some(UserState::Blocked));
    assert_eq!(
        env.sim().requests().matching("DELETE", "/personal_access_tokens"),
        0,
        "the token revoked before is not revoked again"
    );

    // A finished operation is not run again.
    env.call("POST", &format!("{BASE}/{id}/resume"), &env.admin_key, None)
        .await
        .error(409, "Conflict");
}

#[tokio::test]
async fn an_interrupted_operation_reports_its_steps_and_resumes_without_repeating_them() {
    let (env, source) = instance().await;
    let crash = failpoints::fail_times("access-provisioning.between-steps", &source, 1);
    let interrupted = provision(
        &env,
        &source,
        json!({"action": "deprovision", "account": "bob", "steps": ["revoke-tokens", "remove-memberships", "block"]}),
    )
    .await;
    interrupted.error(503, "ServiceUnavailable");
    drop(crash);
    let listed = env
        .get(&format!("{BASE}?sourceId={source}"), Some(&env.admin_key))
        .await
        .json();
    assert_eq!(listed["totalCount"], 1);
    let operation = listed["operations"][0].clone();
    assert_eq!(operation["status"], "running");
    assert_eq!(
        steps(&operation),
        pairs(&[
            ("revoke-tokens", "applied"),
            ("remove-memberships", "pending"),
            ("remove-memberships", "pending"),
            ("block", "pending"),
        ])
    );
    let id = operation["id"].as_str().unwrap();
    // Its runner's lease still holds: it is not taken from under it.
    env.call("POST", &format!("{BASE}/{id}/resume"), &env.admin_key, None)
        .await
        .error(409, "Conflict");
    env.clock.advance_ms(6 * 60 * 1000);
    env.sim().requests().reset();
    let resumed = env
        .call("POST", &format!("{BASE}/{id}/resume"), &env.admin_key, None)
        .await;
    assert_eq!(resumed.status, 200, "{}", String::from_utf8_lossy(&resumed.body));
    assert_eq!(resumed.json()["operation"]["status"], "succeeded");
    assert_eq!(
        env.sim().requests().matching("DELETE", "/personal_access_tokens"),
        0
    );
    assert_eq!(user_state(&env, "bob"), Some(UserState::Blocked));

    // Interrupted after GitLab took the call but before the journal recorded it: the resumed
    // run finds the membership at GitLab and does not add it twice.
    let crash = failpoints::fail_times("access-provisioning.after-call", &source, 1);
    provision(
        &env,
        &source,
        json!({"action": "grant", "account": "carol", "resource": "acme/api", "accessLevel": 30}),
    )
    .await
    .error(503, "ServiceUnavailable");
    drop(crash);
    let listed = env
        .get(&format!("{BASE}?sourceId={source}&limit=1"), Some(&env.admin_key))
        .await
        .json();
    let operation = listed["operations"][0].clone();
    assert_eq!(steps(&operation), pairs(&[("add-member", "started")]));
    env.clock.advance_ms(6 * 60 * 1000);
    let id = operation["id"].as_str().unwrap();
    let resumed = env
        .call("POST", &format!("{BASE}/{id}/resume"), &env.admin_key, None)
        .await
        .json()["operation"]
        .clone();
    assert_eq!(resumed["status"], "succeeded", "{resumed}");
    assert!(
        resumed["steps"][0]["message"]
            .as_str()
            .unwrap()
            .contains("already applied")
    );
    assert_eq!(
        env.sim()
            .requests()
            .total("POST", "/api/v4/projects/{id}/members"),
        1
    );
    assert_eq!(direct(&env, "acme/api", "carol"), Some((30, None)));
}

#[tokio::test]
async fn an_email_names_an_account_only_when_it_matches_exactly_one() {
    let (env, source) = instance().await;
    let by_email = ok(
        &env,
        &source,
        json!({"action": "grant", "account": "CAROL@example.com", "resource": "acme/api", "accessLevel": 20,
            "dryRun": true}),
    )
    .await;
    assert_eq!(by_email["account"]["username"], "carol");

    let unknown = provision(
        &env,
        &source,
        json!({"action": "grant", "account": "nobody@example.com", "resource": "acme/api", "accessLevel": 20}),
    )
    .await;
    let error = unknown.error(422, "UnprocessableEntity");
    assert_eq!(error["details"][0]["field"], "account");

    // "pat" has the address; "patricia" shows it as her public address: which one is meant?
    let ambiguous = provision(
        &env,
        &source,
        json!({"action": "grant", "account": "pat@example.com", "resource": "acme/api", "accessLevel": 20}),
    )
    .await;
    let error = ambiguous.error(422, "UnprocessableEntity");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("pat,") || message.contains("pat "), "{message}");
    assert!(message.contains("patricia"), "{message}");

    let no_user = provision(
        &env,
        &source,
        json!({"action": "revoke", "account": "ghost", "resource": "acme/api"}),
    )
    .await;
    no_user.error(422, "UnprocessableEntity");
    assert_eq!(writes(&env), 0);
}

#[tokio::test]
async fn bad_requests_are_refused_with_a_clear_4xx_and_only_admins_provision() {
    let (env, source) = instance().await;
    let bad_request = [
        json!({"action": "grant", "account": "carol", "accessLevel": 30}),
        json!({"action": "grant", "account": "carol", "resource": "acme/api", "accessLevel": 35}),
        json!({"action": "grant", "account": "carol", "resource": "acme/api"}),
        json!({"action": "grant", "account": "carol", "resource": "acme/api", "accessLevel": 30,
            "expiresAt": "2001-01-01"}),
        json!({"action": "grant", "account": "carol", "resource": "acme/api", "accessLevel": 30,
            "expiresAt": "next week"}),
        json!({"action": "grant", "account": " ", "resource": "acme/api", "accessLevel": 30}),
        json!({"action": "promote", "account": "carol"}),
        json!({"action": "deprovision", "account": "carol"}),
        json!({"action": "deprovision", "account": "carol", "steps": ["remove-at-source"]}),
        json!({"action": "revoke", "account": "carol", "resource": "acme/api", "steps": ["block"]}),
        json!({"action": "grant", "account": "carol", "resource": "acme/api", "accessLevel": 30, "extra": 1}),
        json!({"action": "create-account", "account": "x", "email": "not-an-address"}),
    ];
    for body in bad_request {
        let reply = provision(&env, &source, body.clone()).await;
        assert_eq!(
            reply.status,
            400,
            "{body}: {}",
            String::from_utf8_lossy(&reply.body)
        );
    }
    let unknown_source = provision(
        &env,
        &uuid::Uuid::now_v7().to_string(),
        json!({"action": "grant", "account": "carol", "resource": "acme/api", "accessLevel": 30}),
    )
    .await;
    let error = unknown_source.error(400, "BadRequest");
    assert_eq!(error["details"][0]["field"], "sourceId");
    let outside = provision(
        &env,
        &source,
        json!({"action": "grant", "account": "carol", "resource": "nowhere/at-all", "accessLevel": 30}),
    )
    .await;
    outside.error(422, "UnprocessableEntity");
    let minimal_below_top = provision(
        &env,
        &source,
        json!({"action": "grant", "account": "carol", "resource": "acme/api", "accessLevel": 5}),
    )
    .await;
    minimal_below_top.error(422, "UnprocessableEntity");
    assert_eq!(writes(&env), 0);

    let member = env.key("acme", labgate_proto::api_keys::Role::Member).await;
    let body = json!({"sourceId": source, "action": "grant", "account": "carol", "resource": "acme/api",
        "accessLevel": 30});
    env.call("POST", BASE, &member, Some(body))
        .await
        .error(403, "Forbidden");
    assert_eq!(direct(&env, "acme/api", "carol"), None);

    // Another tenant sees neither the source nor its operations.
    let operation = ok(
        &env,
        &source,
        json!({"action": "grant", "account": "carol", "resource": "acme/api", "accessLevel": 30, "dryRun": true}),
    )
    .await;
    let id = operation["id"].as_str().unwrap();
    env.get(&format!("{BASE}/{id}"), Some(&env.other_admin_key))
        .await
        .error(404, "NotFound");
    let theirs = env
        .get(&format!("{BASE}?sourceId={source}"), Some(&env.other_admin_key))
        .await
        .json();
    assert_eq!(theirs["totalCount"], 0);
    env.get(&format!("{BASE}/not-an-id"), Some(&env.admin_key))
        .await
        .error(404, "NotFound");
    env.get(&format!("{BASE}?limit=500"), Some(&env.admin_key))
        .await
        .error(400, "BadRequest");
}

#[tokio::test]
async fn every_operation_is_audited_dry_runs_included() {
    let (env, source) = instance().await;
    let dry = ok(
        &env,
        &source,
        json!({"action": "grant", "account": "carol", "resource": "acme/api", "accessLevel": 30, "dryRun": true}),
    )
    .await;
    let real = ok(
        &env,
        &source,
        json!({"action": "grant", "account": "carol", "resource": "acme/api", "accessLevel": 30}),
    )
    .await;
    let log = env
        .get("/api/v1/audit-logs?limit=100", Some(&env.admin_key))
        .await
        .json();
    let entries: Vec<&Value> = log["auditLogs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "access-provisioning.grant")
        .collect();
    assert_eq!(entries.len(), 2, "{log}");
    for operation in [&dry, &real] {
        let entry = entries
            .iter()
            .find(|e| e["resourceId"] == operation["id"])
            .unwrap();
        assert_eq!(entry["resourceKind"], "access-provisioning-operation");
        assert_eq!(entry["details"]["account"], "carol");
        assert_eq!(entry["details"]["dryRun"], operation["dryRun"]);
    }
}
