//! `labgate connections` against a running server and gitlab-sim: create (token on stdin or from
//! a file), list, show, check, rotate, events and delete, for tables and `--json`.

use gitlab_sim::{Mode, Seed, SimServer};

use crate::{Site, cli, json, stderr, stdout};

const ALICE: &str = "glpat-aliceALICEalice1234";
const DEPLOY: &str = "glpat-deployDEPLOYdeploy12";
const GROUP: &str = "glpat-groupGROUPgroup12345";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_through_the_cli_for_each_token_kind_and_instance_kind() {
    for mode in [Mode::GitLabCom, Mode::SelfManaged] {
        let sim = SimServer::start(
            Seed::builder()
                .mode(mode)
                .user("alice")
                .group("acme", "Acme")
                .project("acme/api", "API")
                .member("acme", "alice", 50)
                .personal_token("alice", "ci", &["api"], ALICE)
                .project_token("acme/api", "deploy", &["api", "read_repository"], 40, DEPLOY)
                .group_token("acme", "sync", &["api"], 50, GROUP)
                .build(),
        )
        .await
        .unwrap();
        let site = Site::new().await;
        let server = site.serve(&[("LABGATE_ALLOW_INTERNAL_HOSTS", "127.0.0.1")]);
        let key = server.bootstrap_key().unwrap();
        let env = [
            ("LABGATE_URL", server.url.as_str()),
            ("LABGATE_API_KEY", key.as_str()),
        ];
        let token_file = site.dir.path().join("group-token");
        std::fs::write(&token_file, format!("{GROUP}\n")).unwrap();
        let token_path = token_file.to_str().unwrap();

        for (name, kind, token) in [
            ("personal", "personal", Some(ALICE)),
            ("project", "project", Some(DEPLOY)),
            ("group", "group", None),
        ] {
            let mut args = vec![
                "connections",
                "create",
                "--name",
                name,
                "--type",
                kind,
                "--instance-url",
                sim.url(),
                "--json",
            ];
            if token.is_none() {
                args.extend(["--token-file", token_path]);
            }
            let created = json(&cli(
                &site,
                &env,
                &args,
                token.map(|t| format!("{t}\n")).as_deref(),
            ));
            assert_eq!(created["appConnection"]["status"], "active");
            assert_eq!(created["appConnection"]["credentials"]["accessTokenType"], kind);
            let checked = json(&cli(&site, &env, &["connections", "check", name, "--json"], None));
            assert_eq!(checked["appConnection"]["status"], "active");
            let rotated = json(&cli(
                &site,
                &env,
                &["connections", "rotate", name, "--json"],
                None,
            ));
            assert_eq!(rotated["appConnection"]["version"], 2);
            let events = json(&cli(
                &site,
                &env,
                &["connections", "events", name, "--json"],
                None,
            ));
            assert_eq!(events["events"][0]["kind"], "rotated");
            let shown = cli(&site, &env, &["connections", "show", name], None);
            assert!(stdout(&shown).contains("active"), "{}", stdout(&shown));
        }
        let listed = cli(&site, &env, &["connections", "list"], None);
        assert!(
            stdout(&listed).contains("3 of 3 connections"),
            "{}",
            stdout(&listed)
        );
        let listed = json(&cli(&site, &env, &["connections", "list", "--json"], None));
        assert_eq!(listed["totalCount"], 3);
        // No token on stdin: a clear error, nothing sent.
        let missing = cli(
            &site,
            &env,
            &["connections", "create", "--name", "x", "--type", "personal"],
            Some(""),
        );
        assert!(!missing.status.success());
        assert!(stderr(&missing).contains("no token"), "{}", stderr(&missing));
        // A refused token (rotated away above): the server's message.
        let refused = cli(
            &site,
            &env,
            &[
                "connections",
                "create",
                "--name",
                "x",
                "--type",
                "group",
                "--instance-url",
                sim.url(),
            ],
            Some(ALICE),
        );
        assert!(!refused.status.success());
        assert!(stderr(&refused).contains("revoked"), "{}", stderr(&refused));
        // A new token for a connection, from stdin; the version guards against a stale change.
        let fresh = sim
            .state()
            .create_personal_access_token("alice", "fresh", &["api"], None)
            .unwrap();
        let updated = json(&cli(
            &site,
            &env,
            &[
                "connections",
                "update",
                "personal",
                "--new-token",
                "--expect-version",
                "2",
                "--json",
            ],
            Some(&fresh),
        ));
        assert_eq!(updated["appConnection"]["version"], 3);
        assert_eq!(updated["appConnection"]["tokenName"], "fresh");
        let stale = cli(
            &site,
            &env,
            &[
                "connections",
                "update",
                "personal",
                "--description",
                "x",
                "--expect-version",
                "2",
            ],
            None,
        );
        assert!(!stale.status.success());
        assert!(stderr(&stale).contains("409"), "{}", stderr(&stale));
        let deleted = cli(
            &site,
            &env,
            &["connections", "delete", "project", "--revoke-at-gitlab"],
            None,
        );
        assert!(
            stdout(&deleted).contains("deleted project"),
            "{}{}",
            stdout(&deleted),
            stderr(&deleted)
        );
        let gone = cli(&site, &env, &["connections", "show", "project"], None);
        assert!(!gone.status.success());
        let (_, logs) = server.stop();
        for token in [ALICE, DEPLOY, GROUP] {
            assert!(!logs.contains(token), "a token reached the server's logs");
        }
        sim.shutdown().await;
    }
}
