//! Which model answers: when the model asked for (by role or by name) cannot, another answers
//! in its place, and every layer says so — the stored message, the evaluation row, the agents
//! list and the chat UI.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A model answered in place of the one asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Fallback {
    /// What was asked for: a role (`reasoning`) or a model name.
    pub requested: String,
    /// The model that would have answered it (`qwq-32b`), when one plays the role.
    pub in_place_of: Option<String>,
    /// Why it did not (`qwq-32b is not downloaded`).
    pub reason: String,
}

/// Which model would answer a role or model name now, without running it: files present,
/// providers enabled and keyed. Memory and network are not tried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RoutePreview {
    /// The role or model name asked for.
    pub requested: String,
    /// The model that would answer; `null` when none can.
    pub model: Option<String>,
    pub provider: Option<String>,
    /// Set when `model` answers in place of the one asked for.
    pub fallback: Option<Fallback>,
    /// Why no model can answer (when `model` is `null`).
    pub problem: Option<String>,
}
