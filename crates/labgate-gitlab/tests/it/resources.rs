//! Every typed resource against the simulator.

use labgate_gitlab::*;
use secrecy::{ExposeSecret, SecretString};

use crate::common::*;

#[tokio::test]
async fn users_and_instance() {
    let sim = start_sim(standard_seed()).await;
    let c = client(&sim);
    let me = c.current_user(&pat(ALICE_TOKEN)).await.unwrap();
    assert_eq!(me.username, "alice");
    assert!(!me.bot);
    assert_eq!(me.email.as_deref(), Some("alice@example.com"));
    let by_id = c.user(&pat(ALICE_TOKEN), me.id).await.unwrap();
    assert_eq!(by_id.username, "alice");
    let all = collect(c.users(&pat(ROOT_TOKEN), &UserFilter::default()))
        .await
        .unwrap();
    assert!(all.iter().any(|u| u.username == "carol"));
    assert!(all.windows(2).all(|w| w[0].id < w[1].id), "keyset order by id");
    let humans = collect(c.users(
        &pat(ROOT_TOKEN),
        &UserFilter {
            without_project_bots: true,
            ..UserFilter::default()
        },
    ))
    .await
    .unwrap();
    assert!(humans.iter().all(|u| !u.bot));
    assert!(humans.len() < all.len());
    let ms = collect(c.user_memberships(&pat(ROOT_TOKEN), me.id))
        .await
        .unwrap();
    assert_eq!(ms.len(), 1);
    assert_eq!(ms[0].source_type, "Namespace");
    assert_eq!(ms[0].access_level, AccessLevel::MAINTAINER);
    let denied = collect(c.user_memberships(&pat(ALICE_TOKEN), me.id))
        .await
        .unwrap_err();
    assert!(matches!(denied, GitLabError::Forbidden { .. }), "{denied:?}");
    let v = c.version(&pat(ALICE_READ)).await.unwrap();
    assert!(!v.version.is_empty());
    let m = c.metadata(&pat(ALICE_READ)).await.unwrap();
    assert_eq!(m.version, v.version);
    assert!(m.enterprise.is_some());
}

#[tokio::test]
async fn groups_and_projects() {
    let sim = start_sim(standard_seed()).await;
    let c = client(&sim);
    let alice = pat(ALICE_TOKEN);
    let groups = collect(c.groups(&alice, &GroupFilter::default())).await.unwrap();
    let paths: Vec<&str> = groups.iter().map(|g| g.full_path.as_str()).collect();
    assert!(
        paths.contains(&"acme") && paths.contains(&"acme/platform"),
        "{paths:?}"
    );
    let acme = c.group(&alice, &"acme".into()).await.unwrap();
    assert_eq!(acme.name, "Acme");
    let subs = collect(c.subgroups(&alice, &ResourceId::Id(acme.id)))
        .await
        .unwrap();
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].full_path, "acme/platform");
    let desc = collect(c.descendant_groups(&alice, &"acme".into()))
        .await
        .unwrap();
    assert_eq!(desc.len(), 1);
    let direct = collect(c.group_projects(&alice, &"acme".into(), false))
        .await
        .unwrap();
    let deep = collect(c.group_projects(&alice, &"acme".into(), true))
        .await
        .unwrap();
    assert_eq!(direct.len(), 1);
    assert_eq!(deep.len(), 2);
    let projects = collect(c.projects(
        &alice,
        &ProjectFilter {
            membership: true,
            ..ProjectFilter::default()
        },
    ))
    .await
    .unwrap();
    assert_eq!(projects.len(), 2);
    let api = c.project(&alice, &"acme/platform/api".into()).await.unwrap();
    assert_eq!(api.path_with_namespace, "acme/platform/api");
    assert_eq!(api.shared_with_groups.len(), 1);
    assert_eq!(api.shared_with_groups[0].group_full_path, "partners");
    assert_eq!(
        api.permissions
            .and_then(|p| p.group_access)
            .map(|a| a.access_level),
        Some(AccessLevel::MAINTAINER)
    );
}

#[tokio::test]
async fn members_direct_all_and_changes() {
    let sim = start_sim(standard_seed()).await;
    let c = client(&sim);
    let alice = pat(ALICE_TOKEN);
    let api = Source::Project("acme/platform/api".into());
    let direct = collect(c.members(&alice, &api, MemberScope::Direct))
        .await
        .unwrap();
    let names: Vec<&str> = direct.iter().map(|m| m.username.as_str()).collect();
    assert!(names.contains(&"bob") && !names.contains(&"alice"), "{names:?}");
    let all = collect(c.members(&alice, &api, MemberScope::All)).await.unwrap();
    let names: Vec<&str> = all.iter().map(|m| m.username.as_str()).collect();
    assert!(names.contains(&"alice") && names.contains(&"carol"), "{names:?}");
    let alice_id = c.current_user(&alice).await.unwrap().id;
    let eff = c.member(&alice, &api, alice_id, MemberScope::All).await.unwrap();
    assert_eq!(eff.access_level, AccessLevel::MAINTAINER);

    let dave = c.users(
        &pat(ROOT_TOKEN),
        &UserFilter {
            username: Some("dave".into()),
            ..UserFilter::default()
        },
    );
    let dave = collect(dave).await.unwrap().remove(0);
    let added = c
        .add_member(&alice, &api, dave.id, AccessLevel::REPORTER, None)
        .await
        .unwrap();
    assert_eq!(added.access_level, AccessLevel::REPORTER);
    let again = c
        .add_member(&alice, &api, dave.id, AccessLevel::REPORTER, None)
        .await
        .unwrap_err();
    assert!(matches!(again, GitLabError::Conflict { .. }), "{again:?}");
    let expires = time::OffsetDateTime::now_utc().date() + time::Duration::days(30);
    let up = c
        .update_member(&alice, &api, dave.id, AccessLevel::DEVELOPER, Some(expires))
        .await
        .unwrap();
    assert_eq!(up.access_level, AccessLevel::DEVELOPER);
    assert_eq!(up.expires_at, Some(expires));
    c.remove_member(&alice, &api, dave.id).await.unwrap();
    // Inherited access cannot be removed here: 404, revoke at the source.
    let inherited = c.remove_member(&alice, &api, alice_id).await.unwrap_err();
    assert!(matches!(inherited, GitLabError::NotFound { .. }), "{inherited:?}");
}

#[tokio::test]
async fn invitations_and_billable_members() {
    let sim = start_sim(standard_seed()).await;
    let c = client(&sim);
    let root = pat(ROOT_TOKEN);
    let acme = Source::Group("acme".into());
    let inv = collect(c.invitations(&root, &acme)).await.unwrap();
    assert_eq!(inv.len(), 1);
    assert_eq!(inv[0].invite_email, "new@example.com");
    let outcome = c
        .invite(
            &root,
            &acme,
            &[
                Invitee::Email("fresh@example.com".into()),
                Invitee::Email("new@example.com".into()),
            ],
            AccessLevel::DEVELOPER,
            None,
        )
        .await
        .unwrap();
    assert!(!outcome.all_succeeded());
    assert_eq!(outcome.failed.len(), 1, "{outcome:?}");
    assert!(outcome.failed["new@example.com"].contains("already been taken"));
    assert_eq!(collect(c.invitations(&root, &acme)).await.unwrap().len(), 2);
    c.delete_invitation(&root, &acme, "fresh@example.com")
        .await
        .unwrap();
    assert_eq!(collect(c.invitations(&root, &acme)).await.unwrap().len(), 1);

    let billable = collect(c.billable_members(&root, &"acme".into())).await.unwrap();
    let alice = billable
        .iter()
        .find(|m| m.username == "alice")
        .expect("alice is billable");
    let ms = collect(c.billable_member_memberships(&root, &"acme".into(), alice.id))
        .await
        .unwrap();
    assert!(ms.iter().any(|m| m.source_full_name.contains("Acme")));
    assert_eq!(ms[0].access_level.integer_value, AccessLevel::MAINTAINER);
    c.remove_billable_member(&root, &"acme".into(), alice.id)
        .await
        .unwrap();
    let after = collect(c.billable_members(&root, &"acme".into())).await.unwrap();
    assert!(after.iter().all(|m| m.username != "alice"));
}

#[tokio::test]
async fn variables_by_key_and_scope() {
    let sim = start_sim(standard_seed()).await;
    let c = client(&sim);
    let alice = pat(ALICE_TOKEN);
    let api = Source::Project("acme/platform/api".into());
    let vars = collect(c.variables(&alice, &api)).await.unwrap();
    assert_eq!(vars.len(), 1);
    assert_eq!(vars[0].value.as_ref().unwrap().expose_secret(), "postgres://db");

    let mut prod = NewVariable::new("DB_URL", SecretString::from("postgres://prod"));
    prod.environment_scope = Some("production".into());
    let created = c.create_variable(&alice, &api, &prod).await.unwrap();
    assert_eq!(created.environment_scope, "production");
    // Two scopes share the key: the client always filters by scope, so no 409.
    let star = c.variable(&alice, &api, "DB_URL", "*").await.unwrap();
    assert_eq!(star.value.unwrap().expose_secret(), "postgres://db");
    let p = c.variable(&alice, &api, "DB_URL", "production").await.unwrap();
    assert_eq!(p.value.unwrap().expose_secret(), "postgres://prod");

    let mut hidden = NewVariable::new("TOKEN", SecretString::from("s3cretVALUE123"));
    hidden.masked_and_hidden = true;
    let h = c.create_variable(&alice, &api, &hidden).await.unwrap();
    assert!(h.hidden && h.masked && h.value.is_none());

    let mut upd = NewVariable::new("DB_URL", SecretString::from("postgres://prod2"));
    upd.environment_scope = Some("production".into());
    upd.protected = true;
    let u = c.update_variable(&alice, &api, "production", &upd).await.unwrap();
    assert!(u.protected);
    assert_eq!(u.value.unwrap().expose_secret(), "postgres://prod2");

    let dup = c.create_variable(&alice, &api, &prod).await.unwrap_err();
    let GitLabError::Validation { fields } = &dup else {
        panic!("{dup:?}")
    };
    assert!(fields["key"][0].contains("has already been taken"));
    let bad = c
        .create_variable(
            &alice,
            &api,
            &NewVariable::new("bad key!", SecretString::from("x")),
        )
        .await
        .unwrap_err();
    assert!(matches!(bad, GitLabError::Validation { .. }), "{bad:?}");

    c.delete_variable(&alice, &api, "DB_URL", "production")
        .await
        .unwrap();
    let gone = c
        .variable(&alice, &api, "DB_URL", "production")
        .await
        .unwrap_err();
    assert!(matches!(gone, GitLabError::NotFound { .. }), "{gone:?}");
    assert_eq!(
        collect(c.variables(&alice, &Source::Group("acme".into())))
            .await
            .unwrap()
            .len(),
        0
    );
}

#[tokio::test]
async fn hooks_and_compare() {
    let sim = start_sim(standard_seed()).await;
    let c = client(&sim);
    let alice = pat(ALICE_TOKEN);
    let api: ResourceId = "acme/platform/api".into();
    let hooks = collect(c.hooks(&alice, &api)).await.unwrap();
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0].token_present, Some(true));
    let mut new = NewHook::new("https://labgate.example.com/webhooks/gitlab");
    new.token = Some(SecretString::from("whsec-123"));
    new.tag_push_events = true;
    let h = c.create_hook(&alice, &api, &new).await.unwrap();
    assert!(h.tag_push_events && h.push_events);
    assert_eq!(c.hook(&alice, &api, h.id).await.unwrap().url, new.url);
    let mut changed = new.clone();
    changed.url = "https://labgate.example.com/webhooks/gitlab/v2".into();
    changed.push_events = false;
    let u = c.update_hook(&alice, &api, h.id, &changed).await.unwrap();
    assert_eq!(u.url, changed.url);
    assert!(!u.push_events && u.tag_push_events);
    c.delete_hook(&alice, &api, h.id).await.unwrap();
    assert_eq!(collect(c.hooks(&alice, &api)).await.unwrap().len(), 1);

    let project = c.project(&alice, &api).await.unwrap();
    let branch = project.default_branch.unwrap();
    let same = c.compare(&alice, &api, &branch, &branch).await.unwrap();
    assert!(same.commits.is_empty());
    assert!(same.compare_same_ref);
    let missing = c.compare(&alice, &api, "nope", &branch).await.unwrap_err();
    assert!(matches!(missing, GitLabError::NotFound { .. }), "{missing:?}");
}

#[tokio::test]
async fn path_prefix_instance() {
    let opts = gitlab_sim::SimOptions {
        path_prefix: "/gitlab".into(),
        ..gitlab_sim::SimOptions::default()
    };
    let sim = gitlab_sim::SimServer::start_with(standard_seed().build(), opts)
        .await
        .unwrap();
    assert!(sim.url().ends_with("/gitlab"));
    let c = client(&sim);
    assert_eq!(c.current_user(&pat(BOB_TOKEN)).await.unwrap().username, "bob");
    let members = collect(c.members(&pat(ALICE_TOKEN), &Source::Group("acme".into()), MemberScope::All))
        .await
        .unwrap();
    assert!(!members.is_empty());
}

/// Other crates spawn these futures and hold these types across tasks.
#[test]
fn futures_and_types_are_send() {
    fn send<T: Send>(_: &T) {}
    fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<GitLabClient>();
    send_sync::<GitLabError>();
    send_sync::<Credential>();
    send_sync::<labgate_gitlab::oauth::OAuthClient>();
    let c = client_for_url("https://gitlab.example.com", fast_client_options());
    let cred = pat(ALICE_TOKEN);
    send(&c.current_user(&cred));
    send(&c.introspect(&cred));
    send(&c.rotate_self(&cred, None));
    send(&c.projects(&cred, &ProjectFilter::default()));
    let oauth = labgate_gitlab::oauth::OAuthClient::new(c.clone(), crate::oauth::app(APP_SECRET));
    let rt = SecretString::from("x".to_owned());
    send(&oauth.refresh(&rt));
    send(&oauth.revoke(&rt, true));
    send(&oauth.token_info(&rt));
    let (_, verifier) = oauth.authorize_url(&[], "s").unwrap();
    send(&oauth.exchange_code(&rt, Some(&verifier)));
    let src = Source::Group("g".into());
    send(&c.invite(&cred, &src, &[Invitee::UserId(1)], AccessLevel::GUEST, None));
    send(&c.add_member(&cred, &src, 1, AccessLevel::GUEST, None));
    let var = NewVariable::new("K", rt.clone());
    send(&c.create_variable(&cred, &src, &var));
    send(&c.update_variable(&cred, &src, "*", &var));
    send(&c.delete_variable(&cred, &src, "K", "*"));
    send(&c.compare(&cred, &"p".into(), "a", "b"));
    send(&c.create_hook(&cred, &"p".into(), &NewHook::new("https://x")));
    send(&c.check_destination());
    send(&c.members(&cred, &src, MemberScope::All));
}

#[tokio::test]
async fn accounts_are_created_moderated_and_deleted_by_administrators() {
    let sim = start_sim(standard_seed()).await;
    let c = client(&sim);
    let root = pat(ROOT_TOKEN);
    let new = NewUser {
        username: "erin".into(),
        email: "erin@example.com".into(),
        name: "Erin".into(),
        password: NewUserPassword::Given(SecretString::from("a-long-random-password-nobody-knows")),
        skip_confirmation: true,
    };
    let refused = c.create_user(&pat(ALICE_TOKEN), &new).await.unwrap_err();
    assert!(matches!(refused, GitLabError::Forbidden { .. }), "{refused:?}");
    let erin = c.create_user(&root, &new).await.unwrap();
    assert_eq!(erin.username, "erin");
    let taken = c.create_user(&root, &new).await.unwrap_err();
    assert!(matches!(taken, GitLabError::Conflict { .. }), "{taken:?}");
    let reset = NewUser {
        username: "fay".into(),
        email: "fay@example.com".into(),
        name: "Fay".into(),
        password: NewUserPassword::ResetLink,
        skip_confirmation: false,
    };
    c.create_user(&root, &reset).await.unwrap();

    c.moderate_user(&root, erin.id, UserModeration::Block)
        .await
        .unwrap();
    assert_eq!(c.user(&root, erin.id).await.unwrap().state, "blocked");
    c.moderate_user(&root, erin.id, UserModeration::Unblock)
        .await
        .unwrap();
    c.moderate_user(&root, erin.id, UserModeration::Deactivate)
        .await
        .unwrap();
    assert_eq!(c.user(&root, erin.id).await.unwrap().state, "deactivated");
    c.delete_user(&root, erin.id).await.unwrap();
    let gone = c.user(&root, erin.id).await.unwrap_err();
    assert!(matches!(gone, GitLabError::NotFound { .. }), "{gone:?}");
}

#[tokio::test]
async fn members_take_custom_roles_and_invitations_are_found_by_address() {
    let sim = start_sim(standard_seed().member_role(None, "Auditor", 20)).await;
    let c = client(&sim);
    let alice = pat(ALICE_TOKEN);
    let api = Source::Project("acme/platform/api".into());
    let dave = sim.state().user_id("dave").unwrap();
    let grant = MemberGrant {
        level: AccessLevel::REPORTER,
        expires_at: None,
        member_role_id: Some(1),
    };
    let added = c.add_member_with(&alice, &api, dave, &grant).await.unwrap();
    assert_eq!(added.member_role.unwrap()["id"], 1);
    let plain = MemberGrant {
        level: AccessLevel::DEVELOPER,
        expires_at: None,
        member_role_id: None,
    };
    let changed = c.update_member_with(&alice, &api, dave, &plain).await.unwrap();
    assert_eq!(changed.access_level, AccessLevel::DEVELOPER);
    assert!(changed.member_role.is_none());

    let root = pat(ROOT_TOKEN);
    let acme = Source::Group("acme".into());
    let found = collect(c.invitations_of(&root, &acme, "new@example.com"))
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    let none = collect(c.invitations_of(&root, &acme, "other@example.com"))
        .await
        .unwrap();
    assert!(none.is_empty());
}
