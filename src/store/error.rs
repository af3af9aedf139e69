use std::time::Duration;

use sqlx::error::ErrorKind;

/// Errors of the store layer. `sqlx::Error` never leaves the store: it is translated here.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A unique constraint refused the row; the constraint's name says which value clashed.
    #[error("conflict on {constraint}")]
    Conflict { constraint: String },
    /// A check or foreign-key constraint refused the row.
    #[error("constraint {constraint} refused the value: {message}")]
    Invalid { constraint: String, message: String },
    /// Text Postgres cannot store: a NUL character (`\u0000`), in a value or a search.
    #[error("text may not contain NUL characters (\\u0000)")]
    NulInText,
    /// Row-level security or a privilege check refused the statement.
    #[error("permission denied by the database: {0}")]
    Forbidden(String),
    /// The database cannot be reached (connection lost, pool exhausted, server restarting).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Hand-written SQL (the `sql_query` tool) refused before it ran: not one read-only
    /// SELECT, or a function outside the allow-list. The message says what to change.
    #[error("{0}")]
    QueryRefused(String),
    /// Hand-written SQL that the database rejected (syntax, unknown column…): its message.
    #[error("{0}")]
    QueryRejected(String),
    /// Hand-written SQL that ran past its statement timeout and was stopped.
    #[error("the query ran longer than {} seconds and was stopped; ask for less (filter, aggregate, LIMIT)", .0.as_secs())]
    QueryTimeout(Duration),
    #[error("migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A restore found the archive's data does not fit this database.
    #[error("restore: {0}")]
    Restore(String),
    #[error("embedded database: {0}")]
    Embedded(String),
    /// The runtime role of `DATABASE_URL` could reach more than `authenticated` can.
    #[error("the runtime role: {0}")]
    RuntimeRole(String),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
}

impl StoreError {
    /// Whether the error means the connection itself is broken (the watchdog should look).
    pub fn is_connection_failure(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Protocol(_) => StoreError::Unavailable(err.to_string()),
            sqlx::Error::Database(ref db) => {
                let constraint = db.constraint().unwrap_or_default().to_owned();
                match db.kind() {
                    ErrorKind::UniqueViolation => StoreError::Conflict { constraint },
                    ErrorKind::ForeignKeyViolation
                    | ErrorKind::CheckViolation
                    | ErrorKind::NotNullViolation => StoreError::Invalid {
                        constraint,
                        message: db.message().to_owned(),
                    },
                    // character_not_in_repertoire (a NUL in text) and untranslatable_character
                    // (`\u0000` in jsonb): the caller's input, not the platform's fault.
                    _ if matches!(db.code().as_deref(), Some("22021" | "22P05")) => StoreError::NulInText,
                    // 42501: insufficient_privilege, raised by RLS "new row violates row-level
                    // security policy" and by missing grants.
                    _ if db.code().as_deref() == Some("42501") => {
                        StoreError::Forbidden(db.message().to_owned())
                    }
                    _ => StoreError::Database(err),
                }
            }
            other => StoreError::Database(other),
        }
    }
}
