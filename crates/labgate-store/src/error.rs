use thiserror::Error;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, Error)]
pub enum StoreError {
    /// A unique constraint refused the write; `what` names the constraint or column.
    #[error("already exists: {what}")]
    Conflict { what: String },
    /// A foreign key refused the write: the row refers to one that is gone, or a row being
    /// deleted is still referred to.
    #[error("refused by a reference: {what}")]
    ForeignKey { what: String },
    /// The row does not exist (or belongs to another tenant).
    #[error("not found")]
    NotFound,
    /// The database URL or options are unusable; the message names the setting.
    #[error("{0}")]
    Config(String),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &error
            && db.is_unique_violation()
        {
            let what = db
                .constraint()
                .map_or_else(|| db.message().to_owned(), str::to_owned);
            return StoreError::Conflict { what };
        }
        if let sqlx::Error::Database(db) = &error
            && db.is_foreign_key_violation()
        {
            let what = db
                .constraint()
                .map_or_else(|| db.message().to_owned(), str::to_owned);
            return StoreError::ForeignKey { what };
        }
        if matches!(error, sqlx::Error::RowNotFound) {
            return StoreError::NotFound;
        }
        StoreError::Database(error)
    }
}
