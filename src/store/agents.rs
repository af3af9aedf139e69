//! Agents stored in the database: created or edited through the API, they override the agents
//! of the same name defined by files. RLS shows global agents and the caller's company's.

use futures::FutureExt;
use sqlx::PgConnection;

use super::{Actor, Store, StoreError};
use crate::domain::{Agent, AgentSource};

#[derive(sqlx::FromRow)]
struct AgentRow {
    name: String,
    description: String,
    model_role: Option<String>,
    model_name: Option<String>,
    tools: Vec<String>,
    max_steps: i32,
    tool_choice: String,
    temperature: Option<f64>,
    system_prompt: String,
    enabled: bool,
}

impl From<AgentRow> for Agent {
    #[allow(clippy::cast_possible_truncation)]
    fn from(row: AgentRow) -> Self {
        Agent {
            name: row.name,
            description: row.description,
            model_role: row.model_role,
            model_name: row.model_name,
            tools: row.tools,
            max_steps: u32::try_from(row.max_steps).unwrap_or(1),
            tool_choice: row.tool_choice,
            temperature: row.temperature.map(|t| t as f32),
            system_prompt: row.system_prompt,
            enabled: row.enabled,
            source: AgentSource::Database,
        }
    }
}

const COLUMNS: &str = "name, description, model_role, model_name, tools, max_steps, tool_choice, temperature, system_prompt, enabled";

impl Store {
    /// The database agents `actor` may see (at most 500).
    pub async fn list_agents(&self, actor: Actor) -> Result<Vec<Agent>, StoreError> {
        self.run_as(actor, |conn| {
            async move {
                let sql = format!("select {COLUMNS} from public.agents order by name limit 500");
                let rows: Vec<AgentRow> = sqlx::query_as(&sql).fetch_all(conn).await?;
                Ok(rows.into_iter().map(Agent::from).collect())
            }
            .boxed()
        })
        .await
    }

    pub async fn find_agent(&self, actor: Actor, name: String) -> Result<Option<Agent>, StoreError> {
        self.run_as(actor, move |conn| {
            async move {
                let sql = format!("select {COLUMNS} from public.agents where name = $1");
                let row: Option<AgentRow> = sqlx::query_as(&sql).bind(name).fetch_optional(conn).await?;
                Ok(row.map(Agent::from))
            }
            .boxed()
        })
        .await
    }

    /// Creates or replaces the database copy of an agent, for the caller's company.
    pub async fn put_agent(&self, actor: Actor, agent: Agent) -> Result<Agent, StoreError> {
        self.run_as(actor, move |conn| {
            async move { upsert(conn, actor, agent).await }.boxed()
        })
        .await
    }

    /// Deletes the database copy; false when there was none.
    pub async fn delete_agent(&self, actor: Actor, name: String) -> Result<bool, StoreError> {
        self.run_as(actor, move |conn| {
            async move {
                let deleted = sqlx::query("delete from public.agents where name = $1")
                    .bind(name)
                    .execute(conn)
                    .await?;
                Ok(deleted.rows_affected() > 0)
            }
            .boxed()
        })
        .await
    }
}

async fn upsert(conn: &mut PgConnection, actor: Actor, agent: Agent) -> Result<Agent, StoreError> {
    let created_by = match actor {
        Actor::User(id) => Some(id),
        Actor::System => None,
    };
    let sql = format!(
        "insert into public.agents
            (name, description, model_role, model_name, tools, max_steps, tool_choice, temperature,
             system_prompt, enabled, source, company_id, created_by)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'database',
                 (select company_id from public.users where id = $11), $11)
         on conflict (name) do update set
            description = excluded.description, model_role = excluded.model_role,
            model_name = excluded.model_name, tools = excluded.tools, max_steps = excluded.max_steps,
            tool_choice = excluded.tool_choice, temperature = excluded.temperature, system_prompt = excluded.system_prompt,
            enabled = excluded.enabled
         returning {COLUMNS}"
    );
    let row: AgentRow = sqlx::query_as(&sql)
        .bind(&agent.name)
        .bind(&agent.description)
        .bind(&agent.model_role)
        .bind(&agent.model_name)
        .bind(&agent.tools)
        .bind(i32::try_from(agent.max_steps).unwrap_or(i32::MAX))
        .bind(&agent.tool_choice)
        .bind(agent.temperature.map(f64::from))
        .bind(&agent.system_prompt)
        .bind(agent.enabled)
        .bind(created_by)
        .fetch_one(conn)
        .await?;
    Ok(row.into())
}
