//! The demo instance: a small company's GitLab with people, nested groups, projects with CI/CD
//! variables and members, access tokens of every kind with realistic scopes and expiry dates,
//! and an OAuth application registered for a labgate site. `labgate demo` runs on it.

use time::Date;

use crate::model::Mode;
use crate::seed::{
    Seed, SeedGroup, SeedInvitation, SeedMember, SeedOAuthApp, SeedProject, SeedShare, SeedToken, SeedUser,
    SeedVariable,
};

/// The demo OAuth application's client id.
pub const DEMO_APP_UID: &str = "labgate-demo-application-id";
/// The demo OAuth application's secret; a demo value, printed by `labgate demo`.
pub const DEMO_APP_SECRET: &str = "gloas-labgate-demo-application-secret";
/// Where labgate receives GitLab's OAuth answers, below its site URL.
pub const LABGATE_CALLBACK_PATH: &str = "/organization/app-connections/gitlab/oauth/callback";

/// One access token of the demo instance, as a person would paste it into labgate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoToken {
    /// `personal`, `project` or `group`.
    pub kind: &'static str,
    /// The user (personal tokens) or the group or project path.
    pub owner: &'static str,
    pub name: &'static str,
    pub scopes: &'static [&'static str],
    /// Days from the seed's `today` until the token expires.
    pub expires_in_days: i64,
    pub token: &'static str,
}

/// The demo's tokens, in the order `labgate demo` presents them.
pub const DEMO_TOKENS: &[DemoToken] = &[
    DemoToken {
        kind: "personal",
        owner: "amara",
        name: "labgate",
        scopes: &["api", "read_user"],
        expires_in_days: 180,
        token: "glpat-demoAmaraApiToken01",
    },
    DemoToken {
        kind: "project",
        owner: "acme/platform/payments-api",
        name: "deploy",
        scopes: &["api", "read_repository", "self_rotate"],
        expires_in_days: 90,
        token: "glpat-demoPaymentsDeploy1",
    },
    DemoToken {
        kind: "group",
        owner: "acme/web",
        name: "web-automation",
        scopes: &["api", "self_rotate"],
        expires_in_days: 60,
        token: "glpat-demoWebGroupToken01",
    },
    DemoToken {
        kind: "personal",
        owner: "ben",
        name: "ci-readonly",
        scopes: &["read_api"],
        expires_in_days: 5,
        token: "glpat-demoBenReadOnly0001",
    },
    DemoToken {
        kind: "personal",
        owner: "chen",
        name: "security-audit",
        scopes: &["read_api", "read_user", "read_repository"],
        expires_in_days: 365,
        token: "glpat-demoChenAuditToken1",
    },
    DemoToken {
        kind: "project",
        owner: "acme/web/storefront",
        name: "ci-variables",
        scopes: &["api"],
        expires_in_days: 30,
        token: "glpat-demoStorefrontCiVar",
    },
    DemoToken {
        kind: "personal",
        owner: "root",
        name: "admin-automation",
        scopes: &["api", "sudo", "admin_mode"],
        expires_in_days: 30,
        token: "glpat-demoRootAdminToken1",
    },
];

fn person(username: &str, name: &str, admin: bool) -> SeedUser {
    SeedUser {
        username: username.into(),
        name: name.into(),
        email: format!("{username}@acme.example"),
        admin,
        ..SeedUser::default()
    }
}

fn group(path: &str, name: &str, visibility: &str, description: &str) -> SeedGroup {
    SeedGroup {
        path: path.into(),
        name: name.into(),
        visibility: Some(visibility.into()),
        description: Some(description.into()),
    }
}

fn project(path: &str, name: &str, description: &str, readme: &str) -> SeedProject {
    SeedProject {
        path: path.into(),
        name: name.into(),
        description: Some(description.into()),
        files: [("README.md".to_owned(), readme.to_owned())].into(),
        ..SeedProject::default()
    }
}

fn variable(source: &str, key: &str, value: &str) -> SeedVariable {
    SeedVariable {
        source: source.into(),
        key: key.into(),
        value: value.into(),
        ..SeedVariable::default()
    }
}

fn date_in(today: Date, days: i64) -> String {
    (today + time::Duration::days(days)).to_string()
}

fn member(source: &str, user: &str, access_level: u8) -> SeedMember {
    SeedMember {
        source: source.into(),
        user: user.into(),
        access_level,
        expires_at: None,
        member_role: None,
    }
}

fn token(t: &DemoToken, today: Date) -> SeedToken {
    let (user, source) = if t.kind == "personal" {
        (Some(t.owner.to_owned()), None)
    } else {
        (None, Some(t.owner.to_owned()))
    };
    SeedToken {
        kind: t.kind.into(),
        user,
        source,
        name: t.name.into(),
        scopes: t.scopes.iter().map(|s| (*s).to_owned()).collect(),
        token: Some(t.token.into()),
        expires_at: Some(date_in(today, t.expires_in_days)),
        access_level: (t.kind != "personal").then_some(40),
        ..SeedToken::default()
    }
}

/// The demo instance for a labgate whose site URL is `labgate_site_url` (its OAuth
/// application redirects to labgate's callback there). Token expiry dates count from `today`.
pub fn demo_seed(labgate_site_url: &str, today: Date) -> Seed {
    let mut toolkit = project(
        "acme-oss/toolkit",
        "Toolkit",
        "Small utilities, MIT licensed",
        "# Toolkit\n",
    );
    toolkit.visibility = Some("public".into());
    let mut tokens: Vec<SeedToken> = DEMO_TOKENS.iter().map(|t| token(t, today)).collect();
    tokens.push(SeedToken {
        revoked: true,
        ..token(
            &DemoToken {
                kind: "personal",
                owner: "dana",
                name: "old-laptop",
                scopes: &["api"],
                expires_in_days: 120,
                token: "glpat-demoDanaRevoked0001",
            },
            today,
        )
    });
    Seed {
        mode: Mode::SelfManaged,
        users: vec![
            person("root", "Administrator", true),
            person("amara", "Amara Okafor", false),
            person("ben", "Ben Fischer", false),
            person("chen", "Chen Wei", false),
            SeedUser {
                external: true,
                ..person("dana", "Dana Kowalski", false)
            },
            person("eli", "Eli Navarro", false),
            SeedUser {
                state: Some("blocked".into()),
                ..person("frank", "Frank Moreau", false)
            },
        ],
        groups: vec![
            group("acme", "Acme", "private", "Acme Corporation"),
            group(
                "acme/platform",
                "Platform",
                "private",
                "Shared services and infrastructure",
            ),
            group(
                "acme/platform/infra",
                "Infrastructure",
                "private",
                "Terraform and cluster configuration",
            ),
            group("acme/web", "Web", "private", "Customer-facing web applications"),
            group(
                "acme-oss",
                "Acme Open Source",
                "public",
                "Libraries Acme publishes",
            ),
        ],
        projects: vec![
            project(
                "acme/platform/payments-api",
                "Payments API",
                "Card payments and refunds",
                "# Payments API\n\nCharges, refunds and payouts.\n",
            ),
            project(
                "acme/platform/identity",
                "Identity",
                "Single sign-on for Acme's services",
                "# Identity\n\nOIDC provider for internal services.\n",
            ),
            project(
                "acme/platform/infra/terraform",
                "Terraform",
                "Cloud infrastructure as code",
                "# Terraform\n\n`terraform plan` runs in CI.\n",
            ),
            project(
                "acme/web/storefront",
                "Storefront",
                "The shop customers see",
                "# Storefront\n\nNext.js front end of the shop.\n",
            ),
            project(
                "acme/web/docs",
                "Docs",
                "Public documentation site",
                "# Docs\n\nSource of docs.acme.example.\n",
            ),
            toolkit,
        ],
        members: vec![
            member("acme", "amara", 50),
            member("acme/platform", "chen", 40),
            member("acme/platform/payments-api", "ben", 30),
            member("acme/platform/infra", "eli", 40),
            member("acme/web", "ben", 40),
            SeedMember {
                expires_at: Some(date_in(today, 45)),
                ..member("acme/web/storefront", "dana", 20)
            },
            member("acme/web/docs", "eli", 30),
            member("acme-oss", "amara", 50),
            member("acme-oss/toolkit", "eli", 30),
        ],
        shares: vec![SeedShare {
            source: "acme/web/docs".into(),
            group: "acme/platform".into(),
            access_level: 20,
            expires_at: None,
        }],
        invitations: vec![SeedInvitation {
            source: "acme/web".into(),
            email: "new.hire@acme.example".into(),
            access_level: 30,
            expires_at: None,
        }],
        tokens,
        oauth_applications: vec![SeedOAuthApp {
            name: "labgate (demo)".into(),
            uid: Some(DEMO_APP_UID.into()),
            secret: Some(DEMO_APP_SECRET.into()),
            redirect_uri: format!(
                "{}{LABGATE_CALLBACK_PATH}",
                labgate_site_url.trim_end_matches('/')
            ),
            scopes: [
                "api",
                "read_api",
                "read_user",
                "read_repository",
                "write_repository",
            ]
            .into_iter()
            .map(str::to_owned)
            .collect(),
            confidential: Some(true),
            ..SeedOAuthApp::default()
        }],
        variables: vec![
            SeedVariable {
                protected: true,
                masked: true,
                description: Some("Card processor secret key".into()),
                ..variable(
                    "acme/platform/payments-api",
                    "STRIPE_SECRET_KEY",
                    "sk_test_51DemoOnlyNotARealKey",
                )
            },
            SeedVariable {
                environment_scope: Some("production".into()),
                ..variable(
                    "acme/platform/payments-api",
                    "DATABASE_URL",
                    "postgres://payments@db.internal:5432/payments",
                )
            },
            SeedVariable {
                environment_scope: Some("staging".into()),
                ..variable(
                    "acme/platform/payments-api",
                    "DATABASE_URL",
                    "postgres://payments@db-staging.internal:5432/payments",
                )
            },
            variable("acme/platform/payments-api", "LOG_LEVEL", "info"),
            SeedVariable {
                masked: true,
                hidden: true,
                ..variable(
                    "acme/platform/infra/terraform",
                    "AWS_SECRET_ACCESS_KEY",
                    "demoOnlyAwsSecretKey0123456789",
                )
            },
            variable("acme/platform/infra/terraform", "AWS_REGION", "eu-central-1"),
            SeedVariable {
                masked: true,
                ..variable("acme/web/storefront", "SENTRY_DSN_KEY", "demo0sentry0public0key")
            },
            variable("acme/web", "NODE_VERSION", "22"),
            variable("acme", "DEPLOY_REGION", "eu-central-1"),
        ],
        ..Seed::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_instance_builds_with_every_token_usable() {
        let today = time::OffsetDateTime::now_utc().date();
        let seed = demo_seed("http://127.0.0.1:8080/", today);
        let db = seed
            .build_db(time::OffsetDateTime::now_utc(), "127.0.0.1")
            .unwrap();
        for t in DEMO_TOKENS {
            let tok = db.token_by_secret(t.token).unwrap();
            assert!(!tok.revoked, "{}", t.name);
            assert_eq!(
                tok.expires_at,
                Some(today + time::Duration::days(t.expires_in_days))
            );
        }
        let app = db.app_by_uid(DEMO_APP_UID).unwrap();
        assert_eq!(
            app.redirect_uris,
            vec!["http://127.0.0.1:8080/organization/app-connections/gitlab/oauth/callback"]
        );
        assert!(db.group_id("acme/platform/infra").is_some());
        assert!(db.variables.values().map(Vec::len).sum::<usize>() >= 8);
    }
}
