use labgate_store::StoreError;
use thiserror::Error;

pub type Result<T, E = CoreError> = std::result::Result<T, E>;

/// Domain errors. Messages are written for the person calling the API and never hold a secret;
/// `Internal` keeps its cause for the log only.
#[derive(Debug, Error)]
pub enum CoreError {
    #[error("{message}")]
    Validation {
        message: String,
        field: Option<&'static str>,
    },
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    /// A name (or other unique key) is taken. Kept apart from `Conflict`, a concurrent change,
    /// because Infisical's API answers the two differently.
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl CoreError {
    pub fn validation(field: &'static str, message: impl Into<String>) -> CoreError {
        CoreError::Validation {
            message: message.into(),
            field: Some(field),
        }
    }

    pub fn internal(error: impl std::error::Error + Send + Sync + 'static) -> CoreError {
        CoreError::Internal(Box::new(error))
    }
}

impl From<StoreError> for CoreError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => CoreError::NotFound("resource"),
            StoreError::Conflict { what } => CoreError::Conflict(format!("{what} already exists")),
            StoreError::ForeignKey { .. } => CoreError::Conflict(
                "related records changed at the same time; read them again and retry".to_owned(),
            ),
            other => CoreError::internal(other),
        }
    }
}

impl From<labgate_crypto::CryptoError> for CoreError {
    fn from(error: labgate_crypto::CryptoError) -> Self {
        CoreError::internal(error)
    }
}
