//! Ollama's `keep_alive`: how long a local model stays in memory after a request. Zero frees it
//! at once (running generations finish first), a duration frees it when that much time has
//! passed without another request setting a new one, and `Forever` keeps it until the memory
//! budget needs the room. Without a `keep_alive` the engine's own policy holds (loaded until
//! evicted).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use crate::service::inference::InferenceService;

/// How long a model stays loaded after a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Residency {
    Forever,
    /// Zero: unloaded as soon as the request is answered.
    For(Duration),
}

#[derive(Debug, Clone, Copy)]
struct Lease {
    id: u64,
    /// `None`: forever.
    until: Option<SystemTime>,
}

#[derive(Debug, Clone)]
pub(super) struct KeepAlive {
    inference: InferenceService,
    leases: Arc<Mutex<HashMap<String, Lease>>>,
    next_id: Arc<AtomicU64>,
}

impl KeepAlive {
    pub fn new(inference: InferenceService) -> Self {
        Self {
            inference,
            leases: Arc::default(),
            next_id: Arc::default(),
        }
    }

    /// Sets how long the local model `name` stays loaded from now.
    pub fn keep(&self, name: &str, residency: Residency) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let until = match residency {
            Residency::Forever => None,
            Residency::For(time) => Some(SystemTime::now() + time),
        };
        self.leases().insert(name.to_owned(), Lease { id, until });
        let Residency::For(time) = residency else {
            return;
        };
        let this = self.clone();
        let name = name.to_owned();
        tokio::spawn(async move {
            tokio::time::sleep(time).await;
            // A later request may have set another lease: only the latest one decides.
            let current = this.leases().get(&name).is_some_and(|lease| lease.id == id);
            if !current {
                return;
            }
            this.leases().remove(&name);
            match this.inference.release(&name).await {
                Ok(true) => tracing::info!(model = %name, "unloaded: its keep_alive ended"),
                Ok(false) => {}
                Err(err) => tracing::debug!(model = %name, %err, "keep_alive: nothing to unload"),
            }
        });
    }

    /// When the model `name` will be unloaded; `None` when no lease says (it stays).
    pub fn expires_at(&self, name: &str) -> Option<SystemTime> {
        self.leases().get(name).and_then(|lease| lease.until)
    }

    fn leases(&self) -> std::sync::MutexGuard<'_, HashMap<String, Lease>> {
        self.leases.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
