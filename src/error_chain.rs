//! One line for an error and its causes, for logs and CLI messages (HTTP clients and sqlx
//! hide the interesting part in the sources).

pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut line = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line
}
