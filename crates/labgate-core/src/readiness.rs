//! Whether this process can serve: the database answers. Probes ask here.

use labgate_store::Store;

use crate::Result;

#[derive(Clone)]
pub struct Readiness {
    store: Store,
}

impl Readiness {
    pub(crate) fn new(store: Store) -> Readiness {
        Readiness { store }
    }

    /// Asks the database a trivial question.
    pub async fn ping(&self) -> Result<()> {
        Ok(self.store.ping().await?)
    }

    /// Which database this is (engine and location, without credentials), for logs.
    pub fn database(&self) -> String {
        self.store.description().to_owned()
    }

    /// Whether other hosts may run labgate on this database (PostgreSQL); an embedded SQLite
    /// file belongs to one host.
    pub fn shared_by_replicas(&self) -> bool {
        self.store.backend() == labgate_store::Backend::Postgres
    }

    pub(crate) async fn close(&self) {
        self.store.close().await;
    }
}
