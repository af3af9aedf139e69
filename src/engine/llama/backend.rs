//! llama.cpp's backend is process-wide: `llama_backend_init` may run once, and the crate
//! enforces that with a flag of its own. Every engine in the process (tests start several
//! platforms in one process) shares the one instance through this weak handle, and the backend
//! is freed when the last engine using it is dropped.

use std::sync::{Arc, Mutex, Weak};

use llama_cpp_2::llama_backend::LlamaBackend;

use crate::engine::EngineError;

/// The only process-wide state in agentbox, forced by llama.cpp itself (see the module doc).
static SHARED: Mutex<Weak<LlamaBackend>> = Mutex::new(Weak::new());

pub fn shared() -> Result<Arc<LlamaBackend>, EngineError> {
    let mut shared = SHARED
        .lock()
        .map_err(|_| EngineError::Load("backend lock poisoned".into()))?;
    if let Some(backend) = shared.upgrade() {
        return Ok(backend);
    }
    let mut backend =
        LlamaBackend::init().map_err(|err| EngineError::Load(format!("llama.cpp backend: {err}")))?;
    // llama.cpp logs every load step to stderr; its failures reach callers as EngineErrors.
    backend.void_logs();
    let backend = Arc::new(backend);
    *shared = Arc::downgrade(&backend);
    Ok(backend)
}
