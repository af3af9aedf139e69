//! An agent: which model it runs on, which tools it may call, how many steps it may take, and
//! its system prompt. Defined by a built-in file, a file in the agents folder, or the database
//! (which overrides the other two).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgentSource {
    /// Compiled into the binary (`agents/*.md` of the source tree).
    Builtin,
    /// A `*.md` file in the configured agents folder.
    File,
    /// Created or edited through the API.
    Database,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Agent {
    pub name: String,
    pub description: String,
    /// `fast`, `reasoning` or `code`: the router picks the model playing it.
    pub model_role: Option<String>,
    /// A model by name; wins over the role when set.
    pub model_name: Option<String>,
    /// The tools it may call (an allow-list; names as the tool registry knows them).
    pub tools: Vec<String>,
    pub max_steps: u32,
    /// What the first model call of each answer must do: `auto` (text or a call, as the model
    /// sees fit), `required` (call one of `tools`) or one tool's name. Later calls are `auto`.
    pub tool_choice: String,
    /// `None`: the model's default.
    pub temperature: Option<f32>,
    pub system_prompt: String,
    pub enabled: bool,
    pub source: AgentSource,
}

impl Agent {
    /// What the router is asked for: the named model, else the role, else `fast`.
    pub fn model_target(&self) -> &str {
        self.model_name
            .as_deref()
            .or(self.model_role.as_deref())
            .unwrap_or("fast")
    }
}
