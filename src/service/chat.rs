//! Chat: a user's sessions with agents, and sending a message — which stores the prompt, picks
//! the agent (the session's, the one asked for, or the router's choice for `auto`), windows the
//! history to the model's context, and runs the agent loop on a task of its own. The run
//! outlives the request: a client that goes away cancels it, and what was generated is stored
//! marked interrupted.

mod busy;
pub mod events;
pub mod follow;
pub mod history;
pub mod routing;
pub mod runner;
mod title;

use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, DropGuard};
use uuid::Uuid;

use super::ServiceError;
use super::agents::AgentService;
use super::error::NotFoundAs;
use super::search::SearchService;
use crate::domain::{Agent, ChatSession, Identity, Message, NewMessage, Page};
use crate::engine::ChatMessage;
use crate::store::{Actor, SessionUpdate, Store};
use events::{AgentEvent, RunSummary};
use runner::{AgentRun, AgentRunner};

/// The longest message a user may send, in characters.
pub const MAX_MESSAGE_CHARS: usize = 32_000;
const MAX_TITLE_CHARS: usize = 200;
/// The agent name that lets the router choose per message.
pub const AUTO_AGENT: &str = "auto";
/// Stored turns read to build a model's history (the window then keeps what fits).
const HISTORY_TURNS: i64 = 200;
/// Events buffered between a run and its reader.
const EVENT_BUFFER: usize = 256;

/// A message to send.
#[derive(Debug, Clone, Default)]
pub struct SendMessage {
    pub content: String,
    /// Another agent than the session's for this message (`auto`: the router picks).
    pub agent: Option<String>,
    /// A model or role that replaces the agent's for this message.
    pub model: Option<String>,
}

/// A background task's run (see [`ChatService::run_task`]).
#[derive(Debug, Clone)]
pub struct TaskInput {
    pub task_id: Uuid,
    pub agent: String,
    pub input: String,
    pub session_id: Option<Uuid>,
}

/// A checked, stored prompt and the run that answers it.
struct Prepared {
    prompt: Message,
    run: AgentRun,
    /// The session is new and untitled: a title is made after the answer.
    needs_title: bool,
}

/// A running answer: its events, and the run's cancellation (dropping `cancel_on_drop`
/// cancels the run — the SSE response holds it, so a closed connection stops the model).
pub struct ChatRun {
    /// The session that keeps the run's turns.
    pub session_id: Uuid,
    pub events: mpsc::Receiver<AgentEvent>,
    pub cancel_on_drop: DropGuard,
}

#[derive(Debug, Clone)]
pub struct ChatService {
    store: Store,
    agents: AgentService,
    search: SearchService,
    runner: AgentRunner,
    /// Tokens of history a model gets (the local engine's context per slot).
    context_tokens: usize,
    busy: busy::BusySessions,
}

impl ChatService {
    pub fn new(
        store: Store,
        agents: AgentService,
        search: SearchService,
        runner: AgentRunner,
        context_tokens: u32,
    ) -> Self {
        let busy = busy::BusySessions::new(store.clone());
        Self {
            store,
            agents,
            search,
            runner,
            context_tokens: context_tokens as usize,
            busy,
        }
    }

    pub fn runner(&self) -> &AgentRunner {
        &self.runner
    }

    /// Starts a session with `agent` (`auto` when absent), which must exist.
    pub async fn create(
        &self,
        caller: &Identity,
        agent: Option<String>,
        title: Option<String>,
    ) -> Result<ChatSession, ServiceError> {
        let agent = agent.unwrap_or_else(|| AUTO_AGENT.to_owned());
        if agent != AUTO_AGENT {
            self.usable_agent(caller, &agent).await?;
        }
        let title = clean_title(&title.unwrap_or_default())?;
        Ok(self
            .store
            .create_chat_session(caller.user_id(), agent, title)
            .await?)
    }

    pub async fn list(
        &self,
        caller: &Identity,
        page: Page,
        query: Option<String>,
        archived: bool,
    ) -> Result<Vec<ChatSession>, ServiceError> {
        let query = query.map(|q| q.trim().to_owned()).filter(|q| !q.is_empty());
        if query.as_ref().is_some_and(|q| q.chars().count() > 500) {
            return Err(ServiceError::invalid(
                "q",
                "the search text is longer than 500 characters",
            ));
        }
        Ok(self
            .store
            .list_chat_sessions(caller.user_id(), page, query, archived)
            .await?)
    }

    pub async fn get(&self, caller: &Identity, id: Uuid) -> Result<ChatSession, ServiceError> {
        self.store
            .get_chat_session(caller.user_id(), id)
            .await
            .not_found_as("session")
    }

    pub async fn update(
        &self,
        caller: &Identity,
        id: Uuid,
        title: Option<String>,
        archived: Option<bool>,
    ) -> Result<ChatSession, ServiceError> {
        let title = title.as_deref().map(clean_title).transpose()?;
        self.store
            .update_chat_session(caller.user_id(), id, SessionUpdate { title, archived })
            .await
            .not_found_as("session")
    }

    pub async fn delete(&self, caller: &Identity, id: Uuid) -> Result<(), ServiceError> {
        self.store
            .delete_chat_session(caller.user_id(), id)
            .await
            .not_found_as("session")
    }

    pub async fn messages(
        &self,
        caller: &Identity,
        id: Uuid,
        page: Page,
    ) -> Result<Vec<Message>, ServiceError> {
        self.get(caller, id).await?;
        Ok(self.store.list_messages(caller.user_id(), id, page).await?)
    }

    /// The agents a session has used, with their model and step count.
    pub async fn session_agents(
        &self,
        caller: &Identity,
        id: Uuid,
    ) -> Result<Vec<(String, Option<String>, i32)>, ServiceError> {
        self.get(caller, id).await?;
        Ok(self.store.session_agents(caller.user_id(), id).await?)
    }

    /// Stores the prompt and starts the agent on it. Everything that can be refused is
    /// refused here, before anything streams: an unknown session or agent, an empty or huge
    /// message, one that cannot fit the model's context.
    pub async fn send(
        &self,
        caller: &Identity,
        session_id: Uuid,
        send: SendMessage,
    ) -> Result<ChatRun, ServiceError> {
        let session = self.get(caller, session_id).await?;
        let claim = self.busy.claim(session_id).await?;
        let prepared = self.prepare(caller, &session, send, None).await?;
        Ok(self.start(caller, prepared, claim).await)
    }

    /// The events of the session's latest answer, wherever it runs: from its start (or after
    /// the event `after`), then live until `done`; when none runs, what the last one recorded.
    pub async fn follow(
        &self,
        caller: &Identity,
        session_id: Uuid,
        after: Option<i64>,
    ) -> Result<follow::SessionEventStream, ServiceError> {
        self.get(caller, session_id).await?;
        Ok(follow::follow(
            self.store.clone(),
            Actor::User(caller.user_id()),
            session_id,
            after,
        ))
    }

    /// Runs `agent` over a whole conversation a program sent (the OpenAI- and Ollama-compatible
    /// APIs, which carry the history in every request). A new session keeps the last user turn
    /// and every turn of the run, so the call shows in the caller's history and analytics; the
    /// earlier turns are the client's and go to the model as sent. The client's system turns
    /// follow the agent's own instructions; `max_tokens` caps each model call's answer.
    pub async fn converse(
        &self,
        caller: &Identity,
        agent: &str,
        turns: Vec<ChatMessage>,
        max_tokens: Option<u32>,
    ) -> Result<ChatRun, ServiceError> {
        let agent = self.usable_agent(caller, agent).await?;
        let (system, turns): (Vec<ChatMessage>, Vec<ChatMessage>) =
            turns.into_iter().partition(|turn| turn.role == "system");
        let Some(last) = turns.last().filter(|turn| turn.role == "user") else {
            return Err(ServiceError::invalid(
                "messages",
                "an agent answers a user: the last message must be a user message",
            ));
        };
        let mut system_prompt = agent.system_prompt.clone();
        for turn in &system {
            system_prompt.push_str("\n\n");
            system_prompt.push_str(&turn.content);
        }
        let (content, budget) = self.checked_prompt(&last.content, &system_prompt)?;
        let session = self
            .store
            .create_chat_session(caller.user_id(), agent.name.clone(), task_title(&content))
            .await?;
        let claim = self.busy.claim(session.id).await?;
        let mut prompt = NewMessage::new(session.id, "user", content);
        prompt.agent = Some(agent.name.clone());
        let prompt = self.store.insert_message(caller.user_id(), prompt).await?;
        self.index_later(caller, prompt.id);
        let prepared = Prepared {
            prompt,
            needs_title: false,
            run: AgentRun {
                caller: caller.clone(),
                conversation: history::window(&system_prompt, turns, budget),
                agent,
                model: None,
                session_id: session.id,
                task_id: None,
                max_tokens,
            },
        };
        Ok(self.start(caller, prepared, claim).await)
    }

    /// Reports the stored prompt and runs the prepared message on a task of its own.
    async fn start(&self, caller: &Identity, prepared: Prepared, claim: busy::SessionClaim) -> ChatRun {
        let (sender, events) = mpsc::channel(EVENT_BUFFER);
        let recorder = self.recorder(caller, &prepared).await;
        let _ = sender
            .send(AgentEvent::Message(Box::new(prepared.prompt.clone())))
            .await;
        let cancel = CancellationToken::new();
        let this = self.clone();
        let caller = caller.clone();
        let token = cancel.clone();
        let session_id = prepared.run.session_id;
        tokio::spawn(async move {
            this.complete(&caller, prepared, sender, token, (claim, recorder))
                .await;
        });
        ChatRun {
            session_id,
            events,
            cancel_on_drop: cancel.drop_guard(),
        }
    }

    /// Runs `agent` on `input` for a background task, in `session` or a new one, to the end.
    /// Returns the session used and how the run ended.
    pub async fn run_task(
        &self,
        caller: &Identity,
        task: TaskInput,
        events: mpsc::Sender<AgentEvent>,
        cancel: CancellationToken,
    ) -> Result<(Uuid, RunSummary), ServiceError> {
        let session = if let Some(id) = task.session_id {
            self.get(caller, id).await?
        } else {
            self.store
                .create_chat_session(caller.user_id(), task.agent.clone(), task_title(&task.input))
                .await?
        };
        let send = SendMessage {
            content: task.input,
            agent: Some(task.agent),
            model: None,
        };
        // A task waits its turn in a busy session: for the answer that runs there, or for the
        // claim of a replica that died in it to lapse.
        let patience = self.busy.lease() * 6;
        let claim = self.busy.claim_within(session.id, patience).await?;
        let prepared = self.prepare(caller, &session, send, Some(task.task_id)).await?;
        let recorder = self.recorder(caller, &prepared).await;
        let _ = events
            .send(AgentEvent::Message(Box::new(prepared.prompt.clone())))
            .await;
        Ok((
            session.id,
            self.complete(caller, prepared, events, cancel, (claim, recorder))
                .await,
        ))
    }

    /// Checks a message, picks its agent, stores it and builds the conversation for the model.
    async fn prepare(
        &self,
        caller: &Identity,
        session: &ChatSession,
        send: SendMessage,
        task_id: Option<Uuid>,
    ) -> Result<Prepared, ServiceError> {
        let requested = send.agent.unwrap_or_else(|| session.agent.clone());
        let agent = if requested == AUTO_AGENT {
            let agents = self.agents.list(caller).await?.agents;
            routing::pick(&agents, send.content.trim())
                .ok_or(ServiceError::NotFound("agent"))?
                .clone()
        } else {
            self.usable_agent(caller, &requested).await?
        };
        let (content, budget) = self.checked_prompt(&send.content, &agent.system_prompt)?;
        let history = self
            .store
            .recent_messages(caller.user_id(), session.id, HISTORY_TURNS)
            .await?;
        let mut prompt = NewMessage::new(session.id, "user", content.clone());
        prompt.agent = Some(agent.name.clone());
        let prompt = self.store.insert_message(caller.user_id(), prompt).await?;
        self.index_later(caller, prompt.id);

        let mut turns: Vec<ChatMessage> = history.iter().filter_map(history::to_chat_message).collect();
        turns.push(ChatMessage::new("user", content));
        let conversation = history::window(&agent.system_prompt, turns, budget);
        Ok(Prepared {
            needs_title: history.is_empty() && session.title.is_empty(),
            prompt,
            run: AgentRun {
                caller: caller.clone(),
                agent,
                model: send.model,
                session_id: session.id,
                task_id,
                max_tokens: None,
                conversation,
            },
        })
    }

    /// The trimmed message, and the tokens of history the model can take with it: an empty or
    /// huge message, or one that cannot fit the model's context, is refused.
    fn checked_prompt(&self, content: &str, system_prompt: &str) -> Result<(String, usize), ServiceError> {
        let content = content.trim().to_owned();
        if content.is_empty() {
            return Err(ServiceError::invalid("content", "the message is empty"));
        }
        let chars = content.chars().count();
        if chars > MAX_MESSAGE_CHARS {
            return Err(ServiceError::invalid(
                "content",
                format!("the message has {chars} characters; the limit is {MAX_MESSAGE_CHARS}"),
            ));
        }
        let budget = self
            .context_tokens
            .saturating_sub(self.runner.limits().max_tokens as usize);
        let needed = history::estimate_tokens(&content) + history::estimate_tokens(system_prompt) + 64;
        if needed > budget {
            return Err(ServiceError::invalid(
                "content",
                format!(
                    "the message (about {needed} tokens with the agent's instructions) does not fit the model's context of {budget} tokens; shorten it"
                ),
            ));
        }
        Ok((content, budget))
    }

    /// Runs a prepared message to the end, then indexes the answer and titles a new session.
    async fn complete(
        &self,
        caller: &Identity,
        prepared: Prepared,
        events: mpsc::Sender<AgentEvent>,
        cancel: CancellationToken,
        (claim, recorder): (busy::SessionClaim, follow::Recorder),
    ) -> RunSummary {
        let session_id = prepared.run.session_id;
        // `done` goes out once the session is free, so a client may send the next message the
        // moment it reads it.
        let (run_events, mut from_run) = mpsc::channel(EVENT_BUFFER);
        let forward = async {
            while let Some(event) = from_run.recv().await {
                recorder.record(&event);
                if matches!(event, AgentEvent::Done(_)) {
                    return Some(event);
                }
                let _ = events.send(event).await;
            }
            None
        };
        let (summary, done) = tokio::join!(self.runner.run(prepared.run, run_events, cancel), forward);
        // Followers have every event, `done` included, before the next answer may clear them.
        recorder.finish().await;
        // Titling and indexing need no exclusivity.
        claim.release().await;
        if let Some(done) = done {
            let _ = events.send(done).await;
        }
        if let Some(id) = summary.message_id {
            self.index_later(caller, id);
        }
        if prepared.needs_title {
            title::generate(
                &self.runner,
                &self.store,
                caller,
                session_id,
                &prepared.prompt.content,
            )
            .await;
        }
        summary
    }

    /// Starts recording a new answer for followers on any replica (the previous answer's
    /// events are gone before its first event goes out), the stored prompt first.
    async fn recorder(&self, caller: &Identity, prepared: &Prepared) -> follow::Recorder {
        let actor = Actor::User(caller.user_id());
        let recorder = follow::Recorder::start(self.store.clone(), actor, prepared.run.session_id).await;
        recorder.record(&AgentEvent::Message(Box::new(prepared.prompt.clone())));
        recorder
    }

    /// The agent `name` if the caller may use it (enabled).
    async fn usable_agent(&self, caller: &Identity, name: &str) -> Result<Agent, ServiceError> {
        let agent = self.agents.get(caller, name).await?;
        if !agent.enabled {
            return Err(ServiceError::invalid(
                "agent",
                format!("the agent `{name}` is disabled"),
            ));
        }
        Ok(agent)
    }

    /// Embeds a message for semantic search in the background; without an embedding model
    /// this does nothing (search then falls back to full text).
    fn index_later(&self, caller: &Identity, message_id: Uuid) {
        let search = self.search.clone();
        let caller = caller.clone();
        tokio::spawn(async move {
            if let Err(err) = search.index_message(&caller, message_id).await {
                tracing::debug!(%err, %message_id, "message not indexed for semantic search");
            }
        });
    }
}

/// A session title made from the text that starts it, on one line.
fn task_title(text: &str) -> String {
    let title: String = text.chars().take(MAX_TITLE_CHARS).collect();
    title.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn clean_title(title: &str) -> Result<String, ServiceError> {
    let title = title.trim().to_owned();
    if title.chars().count() > MAX_TITLE_CHARS {
        return Err(ServiceError::invalid(
            "title",
            format!("the title is longer than {MAX_TITLE_CHARS} characters"),
        ));
    }
    Ok(title)
}
