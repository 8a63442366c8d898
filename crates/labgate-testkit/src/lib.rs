//! Test support shared by labgate's crates: a fresh database per test on the backend chosen for
//! the run, so one suite covers SQLite and PostgreSQL.
//!
//! `LABGATE_TEST_BACKEND=postgres` runs every database test on PostgreSQL (the server named by
//! `LABGATE_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`); anything
//! else, or nothing, runs them on SQLite files in temporary directories.

pub mod shared;
pub mod sim;

use std::time::Duration;

use sqlx::Connection;
use sqlx::postgres::PgConnection;

pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestBackend {
    Sqlite,
    Postgres,
}

impl TestBackend {
    /// The backend this test run was asked for.
    pub fn from_env() -> TestBackend {
        match std::env::var("LABGATE_TEST_BACKEND").as_deref() {
            Ok("postgres" | "postgresql" | "pg") => TestBackend::Postgres,
            _ => TestBackend::Sqlite,
        }
    }
}

fn postgres_admin_url() -> String {
    std::env::var("LABGATE_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned())
}

/// Whether PostgreSQL must be reachable: in CI, or when the run asked for it. Tests that need
/// PostgreSQL beside another backend skip only when neither holds.
pub fn postgres_required() -> bool {
    TestBackend::from_env() == TestBackend::Postgres || std::env::var("CI").is_ok_and(|v| !v.is_empty())
}

/// A database that exists for one test and is dropped with it.
pub struct TestDatabase {
    url: String,
    backend: TestBackend,
    _dir: Option<tempfile::TempDir>,
    postgres_name: Option<String>,
}

impl std::fmt::Debug for TestDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDatabase").field("url", &self.url).finish()
    }
}

impl TestDatabase {
    /// A fresh database on the run's backend.
    pub async fn new() -> TestDatabase {
        Self::on(TestBackend::from_env()).await
    }

    /// A fresh database on the given backend; panics with a clear message when it is unreachable.
    pub async fn on(backend: TestBackend) -> TestDatabase {
        match backend {
            TestBackend::Sqlite => {
                let dir = tempfile::tempdir().expect("create a temporary directory");
                let url = format!("sqlite://{}", dir.path().join("labgate.db").display());
                TestDatabase {
                    url,
                    backend,
                    _dir: Some(dir),
                    postgres_name: None,
                }
            }
            TestBackend::Postgres => Self::try_postgres().await.unwrap_or_else(|error| {
                panic!(
                    "PostgreSQL is required for this test run but {} is unreachable: {error}",
                    postgres_admin_url()
                )
            }),
        }
    }

    /// A fresh PostgreSQL database, or why none could be made.
    pub async fn try_postgres() -> Result<TestDatabase, String> {
        let admin_url = postgres_admin_url();
        let mut admin = tokio::time::timeout(Duration::from_secs(10), PgConnection::connect(&admin_url))
            .await
            .map_err(|_| "timed out connecting".to_owned())?
            .map_err(|error| error.to_string())?;
        let name = format!("labgate_test_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .map_err(|error| error.to_string())?;
        let _ = admin.close().await;
        let url = match admin_url.rsplit_once('/') {
            Some((server, _)) => format!("{server}/{name}"),
            None => return Err("LABGATE_TEST_POSTGRES_URL must end with /DATABASE".to_owned()),
        };
        Ok(TestDatabase {
            url,
            backend: TestBackend::Postgres,
            _dir: None,
            postgres_name: Some(name),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn backend(&self) -> TestBackend {
        self.backend
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(name) = self.postgres_name.take() else {
            return;
        };
        // Drop may run inside a runtime that is shutting down; a thread with its own small
        // runtime drops the database regardless.
        let handle = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            runtime.block_on(async move {
                if let Ok(mut admin) = PgConnection::connect(&postgres_admin_url()).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut admin)
                        .await;
                    let _ = admin.close().await;
                }
            });
        });
        let _ = handle.join();
    }
}
