//! `agentbox healthcheck`: for container health checks (a scratch image has no curl).

use std::time::Duration;

use super::{CliError, HealthcheckArgs};
use crate::config::Settings;

pub async fn run(settings: &Settings, args: &HealthcheckArgs) -> Result<(), CliError> {
    let url = args.url.clone().unwrap_or_else(|| {
        let port = settings.listen.port();
        format!("{}://127.0.0.1:{port}/health", settings.url_scheme())
    });
    // The check talks to this machine's own listener, whose certificate may be self-signed.
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(args.timeout.max(1)))
        .build()
        .map_err(|err| CliError::Runtime(format!("cannot build an HTTP client: {err}")))?;
    let response = client
        .get(&url)
        .send()
        .await
        .map_err(|err| CliError::Runtime(format!("{url}: {}", super::error_chain(&err))))?;
    if response.status().is_success() {
        println!("ok: {url}");
        Ok(())
    } else {
        Err(CliError::Runtime(format!("{url} answered {}", response.status())))
    }
}
