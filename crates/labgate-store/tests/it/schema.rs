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
