use labgate_store::{Backend, Store, StoreError, StoreOptions};
use labgate_testkit::{TestBackend, TestDatabase, postgres_required};

#[tokio::test]
async fn both_backends_end_with_the_same_schema() {
    let postgres = match TestDatabase::try_postgres().await {
        Ok(database) => database,
        Err(error) if !postgres_required() => {
            eprintln!("skipping the migration parity test: PostgreSQL is unreachable ({error})");
            return;
        }
        Err(error) => panic!("PostgreSQL is required for the migration parity test: {error}"),
    };
    let sqlite = TestDatabase::on(TestBackend::Sqlite).await;
    let mut inventories = Vec::new();
    for database in [&sqlite, &postgres] {
        let store = Store::connect(database.url(), &StoreOptions::default())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        inventories.push(store.schema_inventory().await.unwrap());
    }
    let (lite, pg) = (&inventories[0], &inventories[1]);
    assert!(
        lite.tables.contains("jobs") && lite.tables.contains("tenants"),
        "{:?}",
        lite.tables
    );
    assert_eq!(lite.tables, pg.tables);
    let only_sqlite: Vec<_> = lite.columns.difference(&pg.columns).collect();
    let only_postgres: Vec<_> = pg.columns.difference(&lite.columns).collect();
    assert!(
        only_sqlite.is_empty() && only_postgres.is_empty(),
        "columns differ:\nonly in SQLite: {only_sqlite:#?}\nonly in PostgreSQL: {only_postgres:#?}"
    );
    assert_eq!(lite.indexes, pg.indexes);
}

#[tokio::test]
async fn migrating_twice_is_harmless_and_reports_status() {
    let (store, _db) = crate::fresh_store().await;
    store.migrate().await.unwrap();
    let (applied, newest) = store.migration_status().await.unwrap();
    assert_eq!(applied.last().copied(), Some(newest));
}

#[tokio::test]
async fn unknown_schemes_and_bare_paths_are_refused() {
    for url in ["/tmp/labgate.db", "mysql://localhost/db", "labgate.db"] {
        let error = Store::connect(url, &StoreOptions::default()).await.unwrap_err();
        assert!(matches!(error, StoreError::Config(_)), "{url}: {error:?}");
        assert!(error.to_string().contains("LABGATE_DATABASE_URL"));
    }
}

#[tokio::test]
async fn description_never_shows_a_password() {
    let database = TestDatabase::new().await;
    let store = Store::connect(database.url(), &StoreOptions::default())
        .await
        .unwrap();
    match store.backend() {
        Backend::Sqlite => assert!(store.description().starts_with("sqlite:")),
        Backend::Postgres => assert!(!store.description().contains('@')),
    }
    store.ping().await.unwrap();
}

/// The migration files of a backend up to and including `through`, in order.
fn migration_files(backend: &str, through: u32) -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str()?.get(..4)?.parse::<u32>().ok())
                .is_some_and(|number| number <= through)
        })
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| std::fs::read_to_string(path).unwrap())
        .collect()
}

/// Rows a database had before effective grants stopped being stored: a run that succeeded
/// with alice's three grants and carol's one, and a run that failed.
const STORED_GRANTS: &str = "\
INSERT INTO access_sync_runs (id, source_id, status, progress_done, request_count, created_at, finished_at) \
  VALUES ('r1', 's1', 'succeeded', 0, 0, 1764680000000, 1764687600000), \
         ('r2', 's1', 'failed', 0, 0, 1764690000000, 1764690000500); \
INSERT INTO access_grants (run_id, gitlab_user_id, resource_kind, resource_id, access_level, path_kind) \
  VALUES ('r1', 7, 'group', 1, 30, 'direct'), ('r1', 7, 'group', 2, 30, 'inherited'), \
         ('r1', 7, 'project', 20, 30, 'inherited'), ('r1', 9, 'project', 20, 20, 'shared');";

/// run, account, grants, grants through.
type Tally = (String, i64, i64, i64);
/// run, computed on, grants.
type Totals = (String, i64, i64);

#[tokio::test]
async fn dropping_stored_grants_keeps_each_runs_tallies_and_day() {
    use sqlx::Connection;
    let database = TestDatabase::new().await;
    let backend = match database.backend() {
        TestBackend::Sqlite => "sqlite",
        TestBackend::Postgres => "postgres",
    };
    let before = migration_files(backend, 19);
    let grants_migration = migration_files(backend, 20).pop().unwrap();
    assert!(grants_migration.contains("DROP TABLE access_grants"));
    // The runs' source and tenant are left out: the rows under test stand alone, so
    // foreign keys are not enforced while they are written.
    let tallies_sql = "SELECT run_id, gitlab_user_id, grants, grants_through FROM access_grant_tallies \
                       ORDER BY run_id, gitlab_user_id";
    let totals_sql = "SELECT run_id, computed_on, grants FROM access_grant_totals ORDER BY run_id";
    // Each backend has its own connection type; the reading back is the same.
    macro_rules! read_back {
        ($connection:ident) => {
            (
                sqlx::query_as(tallies_sql)
                    .fetch_all(&mut $connection)
                    .await
                    .unwrap(),
                sqlx::query_as(totals_sql)
                    .fetch_all(&mut $connection)
                    .await
                    .unwrap(),
            )
        };
    }
    let (tallies, totals): (Vec<Tally>, Vec<Totals>) = match database.backend() {
        TestBackend::Sqlite => {
            let options: sqlx::sqlite::SqliteConnectOptions = database.url().parse().unwrap();
            let mut connection =
                sqlx::SqliteConnection::connect_with(&options.create_if_missing(true).foreign_keys(false))
                    .await
                    .unwrap();
            for sql in before
                .iter()
                .chain([&STORED_GRANTS.to_owned(), &grants_migration])
            {
                sqlx::raw_sql(sql).execute(&mut connection).await.unwrap();
            }
            read_back!(connection)
        }
        TestBackend::Postgres => {
            let mut connection = sqlx::PgConnection::connect(database.url()).await.unwrap();
            for sql in &before {
                sqlx::raw_sql(sql).execute(&mut connection).await.unwrap();
            }
            sqlx::raw_sql(&format!(
                "SET session_replication_role = replica; {STORED_GRANTS} SET session_replication_role = DEFAULT;"
            ))
            .execute(&mut connection)
            .await
            .unwrap();
            sqlx::raw_sql(&grants_migration)
                .execute(&mut connection)
                .await
                .unwrap();
            read_back!(connection)
        }
    };
    assert_eq!(
        tallies,
        vec![("r1".to_owned(), 7, 3, 3), ("r1".to_owned(), 9, 1, 4)]
    );
    // 2025-12-02 15:00 UTC: the run's grants are computed for that day, at midnight.
    assert_eq!(totals, vec![("r1".to_owned(), 1_764_633_600_000, 4)]);
}
