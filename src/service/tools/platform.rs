//! Tools only MCP clients get (not agents): see the agents, run one as a background task, and
//! follow the caller's tasks. They act as the key's user, like every other tool.

use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Tool, ToolContext, ToolError, ToolRegistry, service_failure};
use crate::domain::{Page, Task};
use crate::engine::grammar::ToolSpec;
use crate::service::agents::AgentService;
use crate::service::tasks::{CreateTask, TaskService};

/// Adds `list_agents`, `run_agent`, `list_tasks` and `get_task` to `registry`.
pub fn register(registry: &ToolRegistry, agents: AgentService, tasks: TaskService) {
    registry.register(Arc::new(ListAgents { agents }));
    registry.register(Arc::new(RunAgent { tasks: tasks.clone() }));
    registry.register(Arc::new(ListTasks { tasks: tasks.clone() }));
    registry.register(Arc::new(GetTask { tasks }));
}

/// A task as MCP clients see it: what they need to follow it, not every column.
fn task_json(task: &Task) -> Value {
    json!({
        "id": task.id,
        "agent": task.agent,
        "status": task.status,
        "progress": task.progress,
        "progress_message": task.progress_message,
        "input": task.input,
        "result": task.result,
        "error": task.error,
        "created_at": task.created_at,
        "finished_at": task.finished_at,
    })
}

struct ListAgents {
    agents: AgentService,
}

impl Tool for ListAgents {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "list_agents".into(),
            description: "List the agents you can run: name, description, tools, enabled.".into(),
            parameters: json!({ "type": "object", "properties": {}, "additionalProperties": false }),
        }
    }

    fn call<'a>(&'a self, context: &'a ToolContext, _: Value) -> BoxFuture<'a, Result<Value, ToolError>> {
        async move {
            let list = self.agents.list(&context.caller).await.map_err(service_failure)?;
            let agents: Vec<Value> = list
                .agents
                .iter()
                .map(|agent| {
                    json!({
                        "name": agent.name,
                        "description": agent.description,
                        "tools": agent.tools,
                        "enabled": agent.enabled,
                    })
                })
                .collect();
            Ok(json!({ "agents": agents }))
        }
        .boxed()
    }
}

struct RunAgent {
    tasks: TaskService,
}

impl Tool for RunAgent {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "run_agent".into(),
            description: "Start an agent on a request as a background task; returns the task (follow it with get_task).".into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "agent": { "type": "string", "minLength": 1, "maxLength": 100, "description": "Agent name (see list_agents)" },
                    "input": { "type": "string", "minLength": 1, "maxLength": crate::service::tasks::MAX_INPUT_CHARS, "description": "What the agent should do" },
                },
                "required": ["agent", "input"],
                "additionalProperties": false,
            }),
        }
    }

    fn writes(&self) -> bool {
        true
    }

    fn call<'a>(
        &'a self,
        context: &'a ToolContext,
        arguments: Value,
    ) -> BoxFuture<'a, Result<Value, ToolError>> {
        async move {
            let request = CreateTask {
                agent: arguments["agent"].as_str().unwrap_or_default().to_owned(),
                input: arguments["input"].as_str().unwrap_or_default().to_owned(),
                session_id: None,
            };
            let task = self
                .tasks
                .create(&context.caller, request)
                .await
                .map_err(service_failure)?;
            Ok(task_json(&task))
        }
        .boxed()
    }
}

struct ListTasks {
    tasks: TaskService,
}

impl Tool for ListTasks {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "list_tasks".into(),
            description: "List your background tasks, newest first, optionally by status.".into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "status": { "type": "string", "enum": ["queued", "running", "succeeded", "failed", "cancelled"] },
                    "limit": { "type": "integer", "minimum": 1, "maximum": 100 },
                },
                "additionalProperties": false,
            }),
        }
    }

    fn call<'a>(
        &'a self,
        context: &'a ToolContext,
        arguments: Value,
    ) -> BoxFuture<'a, Result<Value, ToolError>> {
        async move {
            let page = Page {
                limit: arguments["limit"].as_i64().unwrap_or(20),
                offset: 0,
            };
            let tasks = self
                .tasks
                .list(&context.caller, arguments["status"].as_str(), page)
                .await
                .map_err(service_failure)?;
            Ok(json!({ "tasks": tasks.iter().map(task_json).collect::<Vec<_>>() }))
        }
        .boxed()
    }
}

struct GetTask {
    tasks: TaskService,
}

impl Tool for GetTask {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "get_task".into(),
            description: "Get one of your tasks by id: status, progress, result or error.".into(),
            parameters: json!({
                "type": "object",
                "properties": { "id": { "type": "string", "minLength": 36, "maxLength": 36, "description": "Task id (UUID)" } },
                "required": ["id"],
                "additionalProperties": false,
            }),
        }
    }

    fn call<'a>(
        &'a self,
        context: &'a ToolContext,
        arguments: Value,
    ) -> BoxFuture<'a, Result<Value, ToolError>> {
        async move {
            let id = arguments["id"]
                .as_str()
                .and_then(|id| Uuid::parse_str(id).ok())
                .ok_or_else(|| ToolError::InvalidArguments("id must be a task id (a UUID)".into()))?;
            let task = self
                .tasks
                .get(&context.caller, id)
                .await
                .map_err(service_failure)?;
            Ok(task_json(&task))
        }
        .boxed()
    }
}
