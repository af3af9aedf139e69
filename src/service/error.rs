use std::time::Duration;

use crate::engine::EngineError;
use crate::store::StoreError;
use crate::tools::ToolsError;

/// Errors of the service layer, in the platform's own terms. `http/error.rs` maps them to
/// status codes; the CLI prints them as one line.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{message}")]
    InvalidInput { field: &'static str, message: String },
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("authentication required")]
    Unauthenticated,
    #[error("wrong email or password")]
    InvalidCredentials,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("this API key lacks the `{0}` scope")]
    InsufficientScope(&'static str),
    #[error("too many failed attempts; try again in {} seconds", retry_after.as_secs().max(1))]
    TooManyAttempts { retry_after: Duration },
    #[error("setup is already complete; sign in instead")]
    AlreadySetUp,
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal(#[source] StoreError),
    /// Models: the catalog, model files, downloads, inference.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The caller's workspace folder could not be used (created, opened, walked).
    #[error(transparent)]
    Workspace(#[from] ToolsError),
}

impl ServiceError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        ServiceError::InvalidInput {
            field,
            message: message.into(),
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => ServiceError::NotFound("resource"),
            StoreError::Conflict { constraint } => conflict(&constraint),
            StoreError::Invalid { constraint, message } => {
                tracing::debug!(%constraint, %message, "constraint refused a value");
                ServiceError::InvalidInput {
                    field: "body",
                    message: format!("the value was refused by rule {constraint}"),
                }
            }
            StoreError::Forbidden(_) => ServiceError::Forbidden("you are not allowed to do that"),
            err @ StoreError::NulInText => ServiceError::InvalidInput {
                field: "text",
                message: err.to_string(),
            },
            StoreError::QueryRefused(message) | StoreError::QueryRejected(message) => {
                ServiceError::InvalidInput {
                    field: "sql",
                    message,
                }
            }
            err @ StoreError::QueryTimeout(_) => ServiceError::InvalidInput {
                field: "sql",
                message: err.to_string(),
            },
            StoreError::Unavailable(message) => ServiceError::Unavailable(message),
            other => ServiceError::Internal(other),
        }
    }
}

/// Names the clash after the unique constraint that refused the row.
fn conflict(constraint: &str) -> ServiceError {
    let (code, message) = match constraint {
        "users_email_key" => ("email_taken", "a user with this email already exists"),
        "companies_name_key" => ("company_exists", "a company with this name already exists"),
        c if c.starts_with("departments_") => (
            "department_exists",
            "this company already has a department with that name",
        ),
        _ => ("conflict", "this would duplicate an existing record"),
    };
    ServiceError::Conflict {
        code,
        message: message.to_owned(),
    }
}

/// Turns a store "not found" into one that names the resource.
pub trait NotFoundAs<T> {
    fn not_found_as(self, what: &'static str) -> Result<T, ServiceError>;
}

impl<T> NotFoundAs<T> for Result<T, StoreError> {
    fn not_found_as(self, what: &'static str) -> Result<T, ServiceError> {
        self.map_err(|err| match err {
            StoreError::NotFound => ServiceError::NotFound(what),
            other => other.into(),
        })
    }
}
