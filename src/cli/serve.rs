//! `agentbox serve` and `agentbox migrate`.

use tokio_util::sync::CancellationToken;

use super::{CliError, ServeArgs, TlsArg};
use crate::config::{FlagOverrides, Settings};

pub fn overrides(args: &ServeArgs) -> FlagOverrides {
    let mut flags = args.data.overrides();
    flags.set("listen", "--listen", args.listen);
    flags.set("http_listen", "--http-listen", args.http_listen.as_ref());
    flags.set(
        "tls",
        "--tls",
        args.tls.map(|tls| match tls {
            TlsArg::SelfSigned => "self-signed",
            TlsArg::Off => "off",
        }),
    );
    flags.set(
        "tls_cert",
        "--tls-cert",
        args.tls_cert.as_ref().map(|p| p.display()),
    );
    flags.set("tls_key", "--tls-key", args.tls_key.as_ref().map(|p| p.display()));
    flags.set("sample_data", "--sample-data", args.sample_data.then_some("true"));
    flags
}

pub async fn run(settings: Settings) -> Result<(), CliError> {
    let running = crate::app::start(settings).await?;
    spawn_signal_handler(running.shutdown_token());
    running.wait().await?;
    Ok(())
}

/// SIGTERM and SIGINT start a graceful shutdown; a second signal while draining exits at once.
fn spawn_signal_handler(shutdown: CancellationToken) {
    tokio::spawn(async move {
        let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else {
            tracing::error!("cannot listen for SIGTERM");
            return;
        };
        for round in 0..2 {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            if round == 0 {
                tracing::info!("signal received");
                shutdown.cancel();
            } else {
                tracing::warn!("second signal: exiting without waiting");
                std::process::exit(1);
            }
        }
    });
}

pub async fn migrate(settings: Settings) -> Result<(), CliError> {
    let (_lock, store) = crate::app::open_store(&settings).await?;
    let applied = store.migrations_applied().await;
    store.close().await;
    match applied {
        Ok(true) => {
            println!("migrations applied");
            Ok(())
        }
        Ok(false) => Err(CliError::Runtime("migrations did not all apply".into())),
        Err(err) => Err(CliError::Runtime(super::error_chain(&err))),
    }
}
