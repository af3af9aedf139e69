//! The agent loop: model → tool calls (checked, run as the caller, each with a timeout) →
//! results back to the model → … → answer, for at most the agent's `max_steps` model calls.
//! Every turn is stored and reported as it happens; every model call is evaluated. A failing
//! tool is an answer the model reads, never the end of the run; a cancelled run stores what it
//! had, marked interrupted.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::events::{AgentEvent, RunSummary};
use crate::domain::{Agent, EvalOutcome, Fallback, Identity, MessageStatus, NewEvaluation, NewMessage};
use crate::engine::chat::{ChatEvent, ChatRequest, ToolUse};
use crate::engine::grammar::ToolSpec;
use crate::engine::{ChatMessage, EngineError, SamplingParams, ToolCall};
use crate::service::ServiceError;
use crate::service::agents::definition::{TOOL_CHOICE_AUTO, TOOL_CHOICE_REQUIRED};
use crate::service::inference::{InferenceService, RoutedChat};
use crate::service::tools::{ToolContext, ToolError, ToolRegistry};
use crate::store::Store;

/// Where an agent gets its answers: the model router in production, a script in tests.
pub trait ChatBackend: Send + Sync + 'static {
    /// An agent's model call: falls back to another model when the one asked for cannot
    /// answer (unless `routing.strict`).
    fn chat<'a>(
        &'a self,
        target: &'a str,
        request: ChatRequest,
    ) -> BoxFuture<'a, Result<RoutedChat, ServiceError>>;

    /// A call for the platform's own chores (session titles): the model asked for or none,
    /// never a stand-in (a title is not worth loading another model or calling a provider).
    fn chat_named<'a>(
        &'a self,
        target: &'a str,
        request: ChatRequest,
    ) -> BoxFuture<'a, Result<RoutedChat, ServiceError>>;
}

impl ChatBackend for InferenceService {
    fn chat<'a>(
        &'a self,
        target: &'a str,
        request: ChatRequest,
    ) -> BoxFuture<'a, Result<RoutedChat, ServiceError>> {
        Box::pin(InferenceService::chat(self, target, request))
    }

    fn chat_named<'a>(
        &'a self,
        target: &'a str,
        request: ChatRequest,
    ) -> BoxFuture<'a, Result<RoutedChat, ServiceError>> {
        Box::pin(InferenceService::chat_named(self, target, request))
    }
}

/// Limits every run obeys.
#[derive(Debug, Clone, Copy)]
pub struct RunLimits {
    /// Answer tokens per model call.
    pub max_tokens: u32,
    pub tool_timeout: Duration,
    /// A model stream that sends nothing for this long has hung.
    pub idle_timeout: Duration,
}

impl Default for RunLimits {
    fn default() -> Self {
        Self {
            max_tokens: 1024,
            tool_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_mins(2),
        }
    }
}

/// One run of an agent over a conversation.
#[derive(Debug, Clone)]
pub struct AgentRun {
    pub caller: Identity,
    pub agent: Agent,
    /// A model (or role) that replaces the agent's for this run.
    pub model: Option<String>,
    pub session_id: Uuid,
    pub task_id: Option<Uuid>,
    /// The system prompt and the windowed history, ending with the new user turn.
    pub conversation: Vec<ChatMessage>,
    /// The caller's cap on answer tokens per model call, below the platform's limit (a
    /// compatible API's `max_tokens`).
    pub max_tokens: Option<u32>,
}

impl AgentRun {
    /// The model or role asked for: the run's override, the agent's model, its role.
    pub fn target(&self) -> String {
        self.model
            .clone()
            .unwrap_or_else(|| self.agent.model_target().to_owned())
    }
}

#[derive(Clone)]
pub struct AgentRunner {
    backend: Arc<dyn ChatBackend>,
    tools: ToolRegistry,
    store: Store,
    limits: RunLimits,
}

impl std::fmt::Debug for AgentRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentRunner")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// What one model call produced.
struct Step {
    text: String,
    calls: Vec<ToolCall>,
    prompt_tokens: u32,
    completion_tokens: u32,
    model: String,
    provider: String,
    /// Set when the model answered in place of the one asked for.
    fallback: Option<Fallback>,
    ended: StepEnd,
    /// Recorded once the turn is stored, so the row links to its message.
    evaluation: Option<NewEvaluation>,
}

enum StepEnd {
    Finished,
    Cancelled,
    Failed { code: &'static str, message: String },
}

impl AgentRunner {
    pub fn new(backend: Arc<dyn ChatBackend>, tools: ToolRegistry, store: Store, limits: RunLimits) -> Self {
        Self {
            backend,
            tools,
            store,
            limits,
        }
    }

    pub fn tools(&self) -> &ToolRegistry {
        &self.tools
    }

    pub fn limits(&self) -> RunLimits {
        self.limits
    }

    pub fn backend(&self) -> &dyn ChatBackend {
        self.backend.as_ref()
    }

    /// Runs to the end (answer, failure, step limit or `cancel`), reporting into `events`.
    /// A reader that goes away does not stop the run; `cancel` does.
    pub async fn run(
        &self,
        run: AgentRun,
        events: mpsc::Sender<AgentEvent>,
        cancel: CancellationToken,
    ) -> RunSummary {
        let mut state = RunState::new(events);
        let target = run.target();
        let specs = self.tools.specs(&run.agent.tools);
        let tool_context = ToolContext {
            caller: run.caller.clone(),
            agent: run.agent.name.clone(),
        };
        let mut conversation = run.conversation.clone();
        let mut seen_calls: HashSet<String> = HashSet::new();
        for step_index in 0..run.agent.max_steps {
            let mut request = ChatRequest::new(conversation.clone());
            request.tools.clone_from(&specs);
            if step_index == 0 {
                request.tool_use = first_tool_use(&run.agent, &specs);
            }
            request.max_tokens = run
                .max_tokens
                .map_or(self.limits.max_tokens, |cap| cap.min(self.limits.max_tokens));
            request.sampling = sampling(&run.agent);
            let step = self.model_call(&run, &target, request, &mut state, &cancel).await;
            state.count(&step);
            match step.ended {
                StepEnd::Cancelled => {
                    return self
                        .finish(&run, &mut state, step, MessageStatus::Interrupted)
                        .await;
                }
                StepEnd::Failed { code, ref message } => {
                    state
                        .emit(AgentEvent::Error {
                            code,
                            message: message.clone(),
                        })
                        .await;
                    return self.finish(&run, &mut state, step, MessageStatus::Error).await;
                }
                StepEnd::Finished if step.calls.is_empty() => {
                    return self.finish(&run, &mut state, step, MessageStatus::Complete).await;
                }
                StepEnd::Finished => {}
            }
            let calls = step.calls.clone();
            let stored = self
                .store_turn(
                    &run,
                    &mut state,
                    step_message(&run, &step, MessageStatus::Complete),
                )
                .await;
            self.record(&run, step.evaluation.clone(), stored).await;
            conversation.push(ChatMessage {
                content: step.text.clone(),
                ..ChatMessage::tool_calls(calls.clone())
            });
            for call in calls {
                let answer = self
                    .run_tool(&run, &tool_context, &call, &mut seen_calls, &cancel)
                    .await;
                state
                    .emit(AgentEvent::ToolResult {
                        id: call.id.clone(),
                        name: call.name.clone(),
                        result: answer.result,
                        error: answer.failed,
                    })
                    .await;
                let mut message = NewMessage::new(run.session_id, "tool", answer.content.clone());
                message.tool_call_id = Some(call.id.clone());
                message.agent = Some(run.agent.name.clone());
                self.store_turn(&run, &mut state, message).await;
                conversation.push(ChatMessage::tool_result(call.id, answer.content));
            }
            if cancel.is_cancelled() {
                return self
                    .finish(&run, &mut state, Step::empty(), MessageStatus::Interrupted)
                    .await;
            }
        }
        let message = format!(
            "the agent made {} model calls without reaching an answer (its limit); ask again more specifically",
            run.agent.max_steps
        );
        state
            .emit(AgentEvent::Error {
                code: "too_many_steps",
                message: message.clone(),
            })
            .await;
        let step = Step {
            ended: StepEnd::Failed {
                code: "too_many_steps",
                message,
            },
            ..Step::empty()
        };
        self.finish(&run, &mut state, step, MessageStatus::Error).await
    }

    /// Runs one tool call; a repeat of an earlier identical call is answered with a nudge
    /// instead (small models loop on the same call).
    async fn run_tool(
        &self,
        run: &AgentRun,
        context: &ToolContext,
        call: &ToolCall,
        seen_calls: &mut HashSet<String>,
        cancel: &CancellationToken,
    ) -> ToolAnswer {
        let fingerprint = format!("{}:{}", call.name, call.arguments);
        let outcome = if seen_calls.insert(fingerprint) {
            tokio::select! {
                () = cancel.cancelled() => Err(ToolError::Failed("the run was cancelled".into())),
                outcome = self.tools.call(context, &run.agent.tools, call, self.limits.tool_timeout) => outcome,
            }
        } else {
            Err(ToolError::Failed(
                "you already made this exact call; its result is above — use it and answer".into(),
            ))
        };
        ToolAnswer::from(outcome)
    }

    /// One streamed model call, forwarding tokens and tool calls, evaluated when it ends.
    // One match over the stream's events, each arm a few lines: split, it reads worse.
    #[allow(clippy::too_many_lines)]
    async fn model_call(
        &self,
        run: &AgentRun,
        target: &str,
        request: ChatRequest,
        state: &mut RunState,
        cancel: &CancellationToken,
    ) -> Step {
        let started = Instant::now();
        let mut step = Step::empty();
        let routed = tokio::select! {
            () = cancel.cancelled() => {
                step.ended = StepEnd::Cancelled;
                return step;
            }
            routed = self.backend.chat(target, request) => routed,
        };
        let mut chat = match routed {
            Ok(chat) => chat,
            Err(err) => {
                step.ended = StepEnd::Failed {
                    code: "model_unavailable",
                    message: format!("no model could answer for `{target}`: {err}"),
                };
                step.evaluation = Some(evaluation(run, &step, started, None, EvalOutcome::Error));
                return step;
            }
        };
        step.model.clone_from(&chat.answerer.model);
        step.provider.clone_from(&chat.answerer.provider);
        step.fallback.clone_from(&chat.fallback);
        let mut first_token: Option<Duration> = None;
        loop {
            let next = tokio::select! {
                () = cancel.cancelled() => {
                    step.ended = StepEnd::Cancelled;
                    break;
                }
                next = tokio::time::timeout(self.limits.idle_timeout, chat.stream.next()) => next,
            };
            match next {
                Err(_) => {
                    step.ended = StepEnd::Failed {
                        code: "model_timeout",
                        message: format!(
                            "the model sent nothing for {} seconds",
                            self.limits.idle_timeout.as_secs()
                        ),
                    };
                    break;
                }
                Ok(None) => {
                    step.ended = StepEnd::Failed {
                        code: "model_failed",
                        message: "the model's answer ended without finishing".into(),
                    };
                    break;
                }
                Ok(Some(Err(err))) => {
                    step.ended = StepEnd::Failed {
                        code: engine_code(&err),
                        message: err.to_string(),
                    };
                    break;
                }
                Ok(Some(Ok(ChatEvent::Text(piece)))) => {
                    first_token.get_or_insert_with(|| started.elapsed());
                    state.first_token();
                    step.text.push_str(&piece);
                    state.emit(AgentEvent::Token(piece)).await;
                }
                Ok(Some(Ok(ChatEvent::Reasoning(piece)))) => {
                    first_token.get_or_insert_with(|| started.elapsed());
                    state.emit(AgentEvent::Reasoning(piece)).await;
                }
                Ok(Some(Ok(ChatEvent::ToolCallDelta(delta)))) => {
                    first_token.get_or_insert_with(|| started.elapsed());
                    state.emit(delta.into()).await;
                }
                Ok(Some(Ok(ChatEvent::ToolCall(call)))) => {
                    first_token.get_or_insert_with(|| started.elapsed());
                    state
                        .emit(AgentEvent::ToolCall {
                            id: call.id.clone(),
                            name: call.name.clone(),
                            arguments: call.arguments.clone(),
                        })
                        .await;
                    step.calls.push(call);
                }
                Ok(Some(Ok(ChatEvent::Done(finished)))) => {
                    step.prompt_tokens = finished.prompt_tokens;
                    step.completion_tokens = finished.completion_tokens;
                    break;
                }
            }
        }
        let outcome = match &step.ended {
            StepEnd::Finished => EvalOutcome::Success,
            StepEnd::Cancelled => EvalOutcome::Cancelled,
            StepEnd::Failed {
                code: "model_timeout",
                ..
            } => EvalOutcome::Timeout,
            StepEnd::Failed { .. } => EvalOutcome::Error,
        };
        step.evaluation = Some(evaluation(run, &step, started, first_token, outcome));
        step
    }

    async fn record(&self, run: &AgentRun, evaluation: Option<NewEvaluation>, message_id: Option<Uuid>) {
        let Some(mut evaluation) = evaluation else { return };
        evaluation.message_id = message_id;
        if let Err(err) = self
            .store
            .record_evaluation(run.caller.user_id(), evaluation)
            .await
        {
            tracing::warn!(%err, "could not record the model call's evaluation");
        }
    }

    /// Stores a turn and reports it; a store failure is reported and the run goes on.
    async fn store_turn(&self, run: &AgentRun, state: &mut RunState, message: NewMessage) -> Option<Uuid> {
        match self.store.insert_message(run.caller.user_id(), message).await {
            Ok(stored) => {
                let id = stored.id;
                state.emit(AgentEvent::Message(Box::new(stored))).await;
                Some(id)
            }
            Err(err) => {
                tracing::error!(%err, session = %run.session_id, "could not store a message");
                state
                    .emit(AgentEvent::Error {
                        code: "storage_failed",
                        message: "a message could not be saved; the database is unavailable".into(),
                    })
                    .await;
                None
            }
        }
    }

    /// Stores the final answer (complete, interrupted or failed) and reports `Done`.
    async fn finish(
        &self,
        run: &AgentRun,
        state: &mut RunState,
        step: Step,
        status: MessageStatus,
    ) -> RunSummary {
        let mut message = step_message(run, &step, status);
        if let StepEnd::Failed { message: error, .. } = &step.ended {
            message.error = Some(error.clone());
        }
        // An interrupted or failed step's tool calls were never run: keep only the text.
        if status != MessageStatus::Complete {
            message.tool_calls = None;
        }
        let message_id = self.store_turn(run, state, message).await;
        self.record(run, step.evaluation.clone(), message_id).await;
        if state.steps > 0
            && let Err(err) = self
                .store
                .record_agent_turn(
                    run.caller.user_id(),
                    run.session_id,
                    run.agent.name.clone(),
                    state.model.clone(),
                    state.steps,
                )
                .await
        {
            tracing::warn!(%err, "could not record the agent's turn");
        }
        let summary = RunSummary {
            message_id,
            status,
            agent: run.agent.name.clone(),
            model: state.model.clone(),
            provider: state.provider.clone(),
            fallback: state.fallback.clone(),
            steps: state.steps,
            prompt_tokens: state.prompt_tokens,
            completion_tokens: state.completion_tokens,
            ttft_ms: state
                .ttft
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            latency_ms: u64::try_from(state.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            answer: step.text,
        };
        state.emit(AgentEvent::Done(summary.clone())).await;
        summary
    }
}

/// Counters across the model calls of one run.
struct RunState {
    events: mpsc::Sender<AgentEvent>,
    started: Instant,
    ttft: Option<Duration>,
    steps: u32,
    prompt_tokens: u32,
    completion_tokens: u32,
    model: Option<String>,
    provider: Option<String>,
    fallback: Option<Fallback>,
}

impl RunState {
    fn new(events: mpsc::Sender<AgentEvent>) -> Self {
        Self {
            events,
            started: Instant::now(),
            ttft: None,
            steps: 0,
            prompt_tokens: 0,
            completion_tokens: 0,
            model: None,
            provider: None,
            fallback: None,
        }
    }

    /// Reports an event; a reader that went away is ignored (cancellation is separate).
    async fn emit(&self, event: AgentEvent) {
        let _ = self.events.send(event).await;
    }

    fn first_token(&mut self) {
        self.ttft.get_or_insert_with(|| self.started.elapsed());
    }

    fn count(&mut self, step: &Step) {
        if step.model.is_empty() {
            return;
        }
        self.steps += 1;
        self.prompt_tokens = self.prompt_tokens.saturating_add(step.prompt_tokens);
        self.completion_tokens = self.completion_tokens.saturating_add(step.completion_tokens);
        self.model = Some(step.model.clone());
        self.provider = Some(step.provider.clone());
        self.fallback.clone_from(&step.fallback);
    }
}

impl Step {
    fn empty() -> Self {
        Self {
            text: String::new(),
            calls: Vec::new(),
            prompt_tokens: 0,
            completion_tokens: 0,
            model: String::new(),
            provider: String::new(),
            fallback: None,
            ended: StepEnd::Finished,
            evaluation: None,
        }
    }
}

/// The `llm_evaluations` row of a step (linked to its message when that is stored).
fn evaluation(
    run: &AgentRun,
    step: &Step,
    started: Instant,
    first_token: Option<Duration>,
    outcome: EvalOutcome,
) -> NewEvaluation {
    let millis = |d: Duration| u32::try_from(d.as_millis()).unwrap_or(u32::MAX);
    NewEvaluation {
        // A call no model took is recorded under what was asked for.
        model: if step.model.is_empty() {
            run.target()
        } else {
            step.model.clone()
        },
        provider: if step.provider.is_empty() {
            "none".to_owned()
        } else {
            step.provider.clone()
        },
        agent: Some(run.agent.name.clone()),
        session_id: Some(run.session_id),
        message_id: None,
        task_id: run.task_id,
        ttft_ms: first_token.map(millis),
        latency_ms: millis(started.elapsed()),
        prompt_tokens: step.prompt_tokens,
        completion_tokens: step.completion_tokens,
        outcome,
        error: match &step.ended {
            StepEnd::Failed { message, .. } => Some(message.clone()),
            _ => None,
        },
        requested: Some(run.target()),
        fallback: step.fallback.clone(),
    }
}

/// The assistant turn a step produced.
fn step_message(run: &AgentRun, step: &Step, status: MessageStatus) -> NewMessage {
    let mut message = NewMessage::new(run.session_id, "assistant", step.text.clone());
    message.status = status;
    message.agent = Some(run.agent.name.clone());
    message.model = (!step.model.is_empty()).then(|| step.model.clone());
    message.fallback.clone_from(&step.fallback);
    message.prompt_tokens = Some(step.prompt_tokens);
    message.completion_tokens = Some(step.completion_tokens);
    if !step.calls.is_empty() {
        message.tool_calls = serde_json::to_value(&step.calls).ok();
    }
    message
}

/// A tool call's outcome as the model and the client see it.
struct ToolAnswer {
    /// Stored, and shown to the model.
    content: String,
    /// Reported to the client.
    result: Value,
    failed: bool,
}

impl From<Result<Value, ToolError>> for ToolAnswer {
    fn from(outcome: Result<Value, ToolError>) -> Self {
        match outcome {
            Ok(Value::String(text)) => Self {
                content: text.clone(),
                result: Value::String(text),
                failed: false,
            },
            Ok(value) => Self {
                content: value.to_string(),
                result: value,
                failed: false,
            },
            Err(err) => {
                let result = json!({ "error": err.to_string() });
                Self {
                    content: result.to_string(),
                    result,
                    failed: true,
                }
            }
        }
    }
}

/// What the first call of an answer must do (the agent's `tool_choice`), among the tools it has
/// now: a named tool that is missing (its MCP server down) asks for any call; no tools, for none.
fn first_tool_use(agent: &Agent, specs: &[ToolSpec]) -> ToolUse {
    if specs.is_empty() {
        return ToolUse::Auto;
    }
    match agent.tool_choice.as_str() {
        TOOL_CHOICE_AUTO => ToolUse::Auto,
        TOOL_CHOICE_REQUIRED => ToolUse::Required,
        name if specs.iter().any(|spec| spec.name == name) => ToolUse::Named(name.to_owned()),
        _ => ToolUse::Required,
    }
}

fn sampling(agent: &Agent) -> SamplingParams {
    let mut sampling = SamplingParams::default();
    if let Some(temperature) = agent.temperature {
        sampling.temperature = temperature;
    }
    sampling
}

fn engine_code(err: &EngineError) -> &'static str {
    match err {
        EngineError::Provider { .. } | EngineError::ProviderUnavailable { .. } => "provider_failed",
        _ => "model_failed",
    }
}
