//! Fallback: when no candidate of the role (or model) an agent asked for can answer, the
//! answer comes from the first of these that can, in the order `routing.fallback` lists the
//! steps (default `loaded, fast, reasoning, code, local, remote`):
//!
//! - `loaded` — a local model already in memory (answers without loading anything);
//! - `fast`, `reasoning`, `code` — the model that plays that role, when its file is present;
//! - `local` — any other present local model, smallest first;
//! - `remote` — a model of an enabled remote provider that has an API key (or, for an
//!   OpenAI-compatible endpoint, a base URL), by provider priority.
//!
//! Local steps are skipped while the local provider is disabled; models that only play the
//! embedding role never chat. The same list, without running anything, tells the agents list
//! which model would answer now ([`InferenceService::preview`]).

use super::{Answerer, InferenceService, RoutedChat, falls_back, local_route, local_spec, observe};
use crate::config::FallbackStep;
use crate::domain::{Fallback, RoutePreview};
use crate::engine::EngineError;
use crate::engine::catalog::ModelRole;
use crate::engine::chat::ChatRequest;
use crate::engine::library::Library;
use crate::engine::llama::ModelSpec;
use crate::engine::providers::ProviderKind;
use crate::service::ServiceError;
use crate::store::providers::ModelRoute;

/// Roles an agent can name (the embedding role answers embeddings only).
const CHAT_ROLES: [ModelRole; 3] = [ModelRole::Fast, ModelRole::Reasoning, ModelRole::Code];

impl InferenceService {
    /// Tries the fallback candidates in order; the first that starts answers, marked as a
    /// fallback for `target`. `None` when none could.
    pub(super) async fn fall_back(
        &self,
        target: &str,
        in_place_of: Option<String>,
        reason: String,
        request: ChatRequest,
        library: &Library,
        mut skipped: Vec<(Answerer, String)>,
    ) -> Option<RoutedChat> {
        let candidates = match self.candidates(library).await {
            Ok(candidates) => candidates,
            Err(err) => {
                tracing::warn!(error = %err, "cannot list the fallback models");
                return None;
            }
        };
        for route in candidates {
            let answerer = Answerer {
                model: route.model.clone(),
                provider: route.provider.name.clone(),
            };
            if skipped.iter().any(|(tried, _)| *tried == answerer) {
                continue;
            }
            match self.start(&route, request.clone(), library).await {
                Ok(stream) => {
                    tracing::info!(
                        requested = %target,
                        model = %answerer.model,
                        provider = %answerer.provider,
                        %reason,
                        "answering in place of the model asked for"
                    );
                    let stream = observe(stream, self.metrics.clone(), &answerer);
                    return Some(RoutedChat {
                        answerer,
                        stream,
                        skipped,
                        fallback: Some(Fallback {
                            requested: target.to_owned(),
                            in_place_of,
                            reason,
                        }),
                    });
                }
                // Any failure before the first token moves on: these are stand-ins, and the
                // caller gets the error of the model it asked for when none answers.
                Err(err) => {
                    tracing::warn!(model = %answerer.model, unavailable = falls_back(&err), error = %err, "fallback model cannot answer; trying the next");
                    skipped.push((answerer, err.to_string()));
                }
            }
        }
        None
    }

    /// Which model would answer each of `targets` now (files present, providers enabled and
    /// keyed), without running anything: for the agents list.
    pub async fn preview(&self, targets: &[String]) -> Result<Vec<RoutePreview>, ServiceError> {
        let library = self.models.library().await?;
        let mut candidates: Option<Vec<ModelRoute>> = None;
        let mut previews = Vec::with_capacity(targets.len());
        for target in targets {
            let target = target.trim();
            let routes = self.routes(target, &library).await?;
            let mut reason = None;
            let mut chosen = None;
            for route in &routes {
                match self.available(route, &library) {
                    Ok(()) => {
                        chosen = Some(route.clone());
                        break;
                    }
                    Err(why) => {
                        reason.get_or_insert(why);
                    }
                }
            }
            if routes.is_empty()
                && let Err(err) = local_spec(&library, target)
            {
                reason = Some(self::reason(target, &err));
            }
            let known = is_known(&library, target);
            if chosen.is_none() && known && !self.routing.strict {
                if candidates.is_none() {
                    candidates = Some(self.candidates(&library).await?);
                }
                chosen = candidates.as_deref().unwrap_or_default().first().cloned();
            }
            let in_place_of = routes.first().map(|route| route.model.clone());
            previews.push(match chosen {
                Some(route) => RoutePreview {
                    requested: target.to_owned(),
                    model: Some(route.model),
                    provider: Some(route.provider.name),
                    fallback: reason.map(|reason| Fallback {
                        requested: target.to_owned(),
                        in_place_of,
                        reason,
                    }),
                    problem: None,
                },
                None => RoutePreview {
                    requested: target.to_owned(),
                    model: None,
                    provider: None,
                    fallback: None,
                    problem: Some(match (reason, known) {
                        (_, false) => format!("`{target}` is neither a role nor a known model"),
                        (Some(reason), true) if self.routing.strict => {
                            format!("{reason} (routing.strict is on: no other model answers)")
                        }
                        (Some(reason), true) => format!("{reason}, and no other model is present"),
                        (None, true) => "no model is present".to_owned(),
                    }),
                },
            });
        }
        Ok(previews)
    }

    /// The fallback candidates, in `routing.fallback` order, each once.
    async fn candidates(&self, library: &Library) -> Result<Vec<ModelRoute>, ServiceError> {
        let local = self.store.provider_enabled("local".to_owned()).await?;
        let mut out: Vec<ModelRoute> = Vec::new();
        for step in self.routing.fallback.iter().copied() {
            match step {
                FallbackStep::Loaded if local => {
                    for loaded in self.engine.loaded().await {
                        add(&mut out, chat_spec(library, &loaded.name).map(local_route));
                    }
                }
                FallbackStep::Fast | FallbackStep::Reasoning | FallbackStep::Code if local => {
                    let role = match step {
                        FallbackStep::Fast => ModelRole::Fast,
                        FallbackStep::Reasoning => ModelRole::Reasoning,
                        _ => ModelRole::Code,
                    };
                    if let Some(entry) = library.for_role(role) {
                        add(&mut out, chat_spec(library, &entry.name).map(local_route));
                    }
                }
                FallbackStep::Local if local => {
                    let mut present: Vec<_> = library.entries().filter(|e| library.is_present(e)).collect();
                    present.sort_by_key(|e| e.size_bytes.unwrap_or(u64::MAX));
                    for entry in present {
                        add(&mut out, chat_spec(library, &entry.name).map(local_route));
                    }
                }
                FallbackStep::Remote => {
                    for route in self.store.remote_routes().await? {
                        if self.has_key(&route) {
                            add(&mut out, Some(route));
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// Whether a candidate could answer now: a present local file, or a keyed remote provider.
    fn available(&self, route: &ModelRoute, library: &Library) -> Result<(), String> {
        if route.provider.kind == "local" {
            return local_spec(library, &route.model)
                .map(|_| ())
                .map_err(|err| reason(&route.model, &err));
        }
        if self.has_key(route) {
            Ok(())
        } else {
            Err(format!("provider {} has no API key", route.provider.name))
        }
    }

    /// A remote provider can be called: a stored or configured key, or (OpenAI-compatible
    /// endpoints, which may need none) a base URL.
    fn has_key(&self, route: &ModelRoute) -> bool {
        match route.provider.kind.parse::<ProviderKind>() {
            Ok(ProviderKind::Anthropic) => {
                route.key_ciphertext.is_some() || self.env_keys.anthropic.is_some()
            }
            Ok(ProviderKind::OpenAi) => route.key_ciphertext.is_some() || self.env_keys.openai.is_some(),
            Ok(ProviderKind::OpenAiCompatible) => route
                .provider
                .base_url
                .as_deref()
                .is_some_and(|url| !url.is_empty()),
            Err(_) => false,
        }
    }
}

/// Adds a candidate unless it is already listed.
fn add(out: &mut Vec<ModelRoute>, route: Option<ModelRoute>) {
    if let Some(route) = route
        && !out
            .iter()
            .any(|r| r.model == route.model && r.provider.name == route.provider.name)
    {
        out.push(route);
    }
}

/// The spec of a present local model that can chat (not one that only plays `embedding`).
fn chat_spec(library: &Library, name: &str) -> Option<ModelSpec> {
    let entry = library.find(name).ok()?;
    let roles = library.roles_of(&entry.name);
    let embedding_only = if roles.is_empty() {
        entry.role == Some(ModelRole::Embedding)
    } else {
        roles == [ModelRole::Embedding]
    };
    if embedding_only {
        return None;
    }
    local_spec(library, &entry.name).ok()
}

/// A role agents chat with, or a model the library or the providers know: what may be answered
/// by another model. An unknown name is a mistake to report, not to answer around.
pub(super) fn is_known(library: &Library, target: &str) -> bool {
    target
        .parse::<ModelRole>()
        .is_ok_and(|role| CHAT_ROLES.contains(&role))
        || library.find(target).is_ok()
}

/// Why `model` (a model name, or the role asked for) cannot answer, in a few words for the
/// chat's badge: `qwq-32b is not downloaded`.
pub(super) fn reason(model: &str, err: &ServiceError) -> String {
    match err {
        ServiceError::Engine(EngineError::ModelMissing(_)) => format!("{model} is not downloaded"),
        ServiceError::Engine(EngineError::UnknownModel { .. }) => format!("no model plays {model}"),
        ServiceError::Engine(EngineError::OverBudget { .. }) => {
            format!("{model} does not fit in the memory budget")
        }
        ServiceError::Engine(EngineError::Load(_)) => format!("{model} could not be loaded"),
        ServiceError::Engine(EngineError::ProviderUnavailable { provider, .. }) => {
            format!("provider {provider} is unavailable")
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_short_enough_for_a_badge() {
        let missing = ServiceError::Engine(EngineError::ModelMissing(
            "`qwq-32b` is not downloaded yet".into(),
        ));
        assert_eq!(reason("qwq-32b", &missing), "qwq-32b is not downloaded");
        let over = ServiceError::Engine(EngineError::OverBudget {
            model: "big".into(),
            needed: 2,
            budget: 1,
        });
        assert_eq!(reason("big", &over), "big does not fit in the memory budget");
        let unknown = ServiceError::Engine(EngineError::UnknownModel {
            name: "code".into(),
            known: String::new(),
        });
        assert_eq!(reason("code", &unknown), "no model plays code");
    }
}
