//! One download in progress: the `.part` file, its running hash, HTTP attempts with resume,
//! and the final checks.

use std::fs::File;
use std::io::SeekFrom;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT_ENCODING, CONTENT_RANGE, RANGE};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncSeekExt, AsyncWriteExt, BufWriter};
use tokio_util::sync::CancellationToken;

use super::{Downloaded, Options, Progress, Request, chain, sync_dir};
use crate::engine::EngineError;

/// Why an attempt ended.
enum Failure {
    /// Worth trying again (network trouble, a 5xx); the message says what happened.
    Retry(String),
    Fatal(EngineError),
}

/// What a response holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// The bytes from where the `.part` ends.
    Body,
    /// Nothing more: the `.part` already holds the whole file.
    Complete,
}

/// The `.part` file, its hash so far, and the counters of this run.
pub(super) struct Transfer<'a> {
    request: &'a Request<'a>,
    part: PathBuf,
    writer: BufWriter<tokio::fs::File>,
    hasher: Sha256,
    pub(super) done: u64,
    total: Option<u64>,
    received: u64,
    started: Instant,
    reported: Option<Instant>,
}

/// `bytes START-END/TOTAL` → (START, TOTAL); `bytes */TOTAL` → (None, TOTAL).
fn content_range(response: &reqwest::Response) -> (Option<u64>, Option<u64>) {
    let Some(value) = response
        .headers()
        .get(CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
    else {
        return (None, None);
    };
    let Some(rest) = value.trim().strip_prefix("bytes ") else {
        return (None, None);
    };
    let (range, total) = rest.split_once('/').unwrap_or((rest, "*"));
    let start = range
        .split_once('-')
        .and_then(|(start, _)| start.trim().parse().ok());
    (start, total.trim().parse().ok())
}

impl<'a> Transfer<'a> {
    pub(super) fn new(
        request: &'a Request<'a>,
        part: PathBuf,
        file: File,
        hasher: Sha256,
        done: u64,
    ) -> Self {
        Self {
            request,
            part,
            writer: BufWriter::with_capacity(1 << 20, tokio::fs::File::from_std(file)),
            hasher,
            done,
            total: request.size,
            received: 0,
            started: Instant::now(),
            reported: None,
        }
    }

    fn failed(&self, message: String) -> EngineError {
        EngineError::Download {
            name: self.request.name.to_owned(),
            url: self.request.url.to_owned(),
            message,
        }
    }

    pub(super) fn report(
        &mut self,
        progress: &mut (dyn FnMut(Progress) + Send),
        options: &Options,
        force: bool,
    ) {
        let now = Instant::now();
        if !force
            && self
                .reported
                .is_some_and(|at| now.duration_since(at) < options.progress_every)
        {
            return;
        }
        self.reported = Some(now);
        let elapsed = now.duration_since(self.started).as_secs_f64();
        #[allow(clippy::cast_precision_loss)]
        let rate = if elapsed > 0.0 {
            self.received as f64 / elapsed
        } else {
            0.0
        };
        let total = self.total.or(self.request.size);
        #[allow(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss
        )]
        let eta_secs = total
            .filter(|_| rate > 0.0)
            .map(|total| (total.saturating_sub(self.done) as f64 / rate).ceil() as u64);
        progress(Progress {
            done: self.done,
            total,
            rate,
            eta_secs,
        });
    }

    /// Throws away what was downloaded: the next attempt starts from zero.
    async fn restart(&mut self) -> Result<(), Failure> {
        let part = self.part.clone();
        let fatal = |err| Failure::Fatal(EngineError::io("truncate", part.clone())(err));
        self.writer.flush().await.map_err(fatal)?;
        let file = self.writer.get_mut();
        file.set_len(0).await.map_err(fatal)?;
        file.seek(SeekFrom::Start(0)).await.map_err(fatal)?;
        self.hasher = Sha256::new();
        self.done = 0;
        Ok(())
    }

    /// Deletes the `.part` file (its content is wrong, or there is none worth resuming).
    pub(super) async fn discard(&mut self) {
        match tokio::fs::remove_file(&self.part).await {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => {
                tracing::warn!(part = %self.part.display(), error = %err, "cannot delete a partial download");
            }
        }
    }

    /// Attempts (with retries and backoff) until the file is complete or fails for good.
    pub(super) async fn run(
        &mut self,
        client: &reqwest::Client,
        options: &Options,
        cancel: &CancellationToken,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<(), EngineError> {
        let name = self.request.name;
        let mut attempts = 0;
        let mut fruitless = 0;
        loop {
            if self.request.size.is_some_and(|size| self.done == size) {
                return Ok(());
            }
            attempts += 1;
            let before = self.done;
            let outcome = self.attempt(client, options, cancel, progress).await;
            self.writer
                .flush()
                .await
                .map_err(EngineError::io("write", &self.part))?;
            match outcome {
                Ok(()) => return Ok(()),
                Err(Failure::Fatal(err)) => {
                    if matches!(err, EngineError::SizeMismatch { .. }) {
                        self.discard().await;
                    }
                    return Err(err);
                }
                Err(Failure::Retry(message)) => {
                    fruitless = if self.done > before { 0 } else { fruitless + 1 };
                    if fruitless >= options.max_attempts_without_progress || attempts >= options.max_attempts
                    {
                        return Err(self.failed(format!("{message} (gave up after {attempts} attempts)")));
                    }
                    let wait = options
                        .backoff
                        .saturating_mul(1 << fruitless.saturating_sub(1).min(5))
                        .min(Duration::from_secs(30));
                    tracing::warn!(
                        model = name,
                        attempt = attempts,
                        error = %message,
                        retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        "download interrupted; retrying"
                    );
                    tokio::select! {
                        () = cancel.cancelled() => return Err(EngineError::Cancelled { name: name.to_owned() }),
                        () = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
    }

    /// Checks the status and headers of a response; restarts from zero when the server did
    /// not resume where asked.
    async fn check_answer(&mut self, response: &reqwest::Response) -> Result<Answer, Failure> {
        let status = response.status();
        match status {
            StatusCode::PARTIAL_CONTENT => {
                let (start, total) = content_range(response);
                if start != Some(self.done) {
                    tracing::warn!(
                        model = self.request.name,
                        ?start,
                        "server sent another range; starting over"
                    );
                    self.restart().await?;
                    return Err(Failure::Retry("the server sent another range than asked".into()));
                }
                self.total = total.or(self.total);
            }
            StatusCode::OK => {
                if self.done > 0 {
                    tracing::info!(
                        model = self.request.name,
                        "server does not resume downloads; starting over"
                    );
                    self.restart().await?;
                }
                self.total = response.content_length().or(self.total);
            }
            StatusCode::RANGE_NOT_SATISFIABLE if self.done > 0 => {
                let (_, total) = content_range(response);
                if total == Some(self.done) {
                    return Ok(Answer::Complete);
                }
                self.restart().await?;
                return Err(Failure::Retry(
                    "the server refused to resume; starting over".into(),
                ));
            }
            status
                if status.is_server_error()
                    || status == StatusCode::TOO_MANY_REQUESTS
                    || status == StatusCode::REQUEST_TIMEOUT =>
            {
                return Err(Failure::Retry(format!("the server answered {status}")));
            }
            status => {
                return Err(Failure::Fatal(
                    self.failed(format!("the server answered {status}")),
                ));
            }
        }
        if let (Some(expected), Some(offered)) = (self.request.size, self.total)
            && expected != offered
        {
            return Err(Failure::Fatal(EngineError::SizeMismatch {
                name: self.request.name.to_owned(),
                expected,
                actual: offered,
            }));
        }
        Ok(Answer::Body)
    }

    /// One HTTP request: from the current length to the end, appended to the `.part` file.
    async fn attempt(
        &mut self,
        client: &reqwest::Client,
        options: &Options,
        cancel: &CancellationToken,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<(), Failure> {
        let name = self.request.name;
        let cancelled = || {
            Failure::Fatal(EngineError::Cancelled {
                name: name.to_owned(),
            })
        };
        let mut builder = client.get(self.request.url).header(ACCEPT_ENCODING, "identity");
        if self.done > 0 {
            builder = builder.header(RANGE, format!("bytes={}-", self.done));
        }
        let response = tokio::select! {
            () = cancel.cancelled() => return Err(cancelled()),
            sent = tokio::time::timeout(options.stall_timeout, builder.send()) => match sent {
                Err(_) => return Err(Failure::Retry(format!("no answer within {} s", options.stall_timeout.as_secs()))),
                Ok(Err(err)) => return Err(Failure::Retry(chain(&err))),
                Ok(Ok(response)) => response,
            },
        };
        if self.check_answer(&response).await? == Answer::Complete {
            return Ok(());
        }

        let mut body = response.bytes_stream();
        loop {
            let chunk = tokio::select! {
                () = cancel.cancelled() => return Err(cancelled()),
                next = tokio::time::timeout(options.stall_timeout, body.next()) => match next {
                    Err(_) => return Err(Failure::Retry(format!("no data for {} s", options.stall_timeout.as_secs()))),
                    Ok(None) => break,
                    Ok(Some(Err(err))) => return Err(Failure::Retry(chain(&err))),
                    Ok(Some(Ok(chunk))) => chunk,
                },
            };
            let len = chunk.len() as u64;
            if let Some(limit) = self.request.size.or(self.total)
                && self.done + len > limit
            {
                return Err(Failure::Fatal(EngineError::SizeMismatch {
                    name: self.request.name.to_owned(),
                    expected: limit,
                    actual: self.done + len,
                }));
            }
            self.writer
                .write_all(&chunk)
                .await
                .map_err(|err| Failure::Fatal(EngineError::io("write", &self.part)(err)))?;
            self.hasher.update(&chunk);
            self.done += len;
            self.received += len;
            self.report(progress, options, false);
        }
        match self.total {
            Some(total) if self.done < total => Err(Failure::Retry(format!(
                "the connection closed after {} of {total} bytes",
                self.done
            ))),
            _ => Ok(()),
        }
    }

    /// Checks size and sha256, then fsyncs and renames the `.part` to the final name.
    pub(super) async fn finish(mut self, resumed_from: u64) -> Result<Downloaded, EngineError> {
        let actual = hex::encode(self.hasher.clone().finalize());
        let request = self.request;
        if let Some(expected) = request.size
            && expected != self.done
        {
            self.discard().await;
            return Err(EngineError::SizeMismatch {
                name: request.name.to_owned(),
                expected,
                actual: self.done,
            });
        }
        if let Some(expected) = request.sha256
            && !expected.eq_ignore_ascii_case(&actual)
        {
            self.discard().await;
            return Err(EngineError::ChecksumMismatch {
                name: request.name.to_owned(),
                expected: expected.to_ascii_lowercase(),
                actual,
            });
        }
        self.writer
            .flush()
            .await
            .map_err(EngineError::io("write", &self.part))?;
        let file = self.writer.into_inner();
        file.sync_all()
            .await
            .map_err(EngineError::io("sync", &self.part))?;
        drop(file);
        let path = request.dir.join(request.file);
        tokio::fs::rename(&self.part, &path)
            .await
            .map_err(EngineError::io("rename", &self.part))?;
        sync_dir(request.dir).await;
        Ok(Downloaded {
            path,
            sha256: actual,
            bytes: self.done,
            verified: request.sha256.is_some(),
            resumed_from,
        })
    }
}
