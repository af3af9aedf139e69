//! `eval_runs`: the recorded `agentbox eval` runs. RLS like `llm_evaluations`: a user reads
//! their own runs, a company admin the company's.

use chrono::{DateTime, Utc};
use futures::FutureExt;
use sqlx::types::Json;
use uuid::Uuid;

use super::{Actor, Store, StoreError};
use crate::domain::{EvalCaseResult, EvalRun, NewEvalRun, Page};

#[derive(sqlx::FromRow)]
struct RunRow {
    id: Uuid,
    user_id: Uuid,
    suite: String,
    started_at: DateTime<Utc>,
    finished_at: DateTime<Utc>,
    passed: i32,
    failed: i32,
    results: Option<Json<Vec<EvalCaseResult>>>,
    created_at: DateTime<Utc>,
}

impl From<RunRow> for EvalRun {
    fn from(row: RunRow) -> Self {
        EvalRun {
            id: row.id,
            user_id: row.user_id,
            suite: row.suite,
            started_at: row.started_at,
            finished_at: row.finished_at,
            passed: u32::try_from(row.passed).unwrap_or_default(),
            failed: u32::try_from(row.failed).unwrap_or_default(),
            results: row.results.map(|json| json.0),
            created_at: row.created_at,
        }
    }
}

const SUMMARY_COLUMNS: &str =
    "id, user_id, suite, started_at, finished_at, passed, failed, null::jsonb as results, created_at";
const FULL_COLUMNS: &str = "id, user_id, suite, started_at, finished_at, passed, failed, results, created_at";

impl Store {
    /// Stores a finished run of `user_id`, with the counts the service worked out.
    pub async fn insert_eval_run(&self, user_id: Uuid, run: NewEvalRun) -> Result<EvalRun, StoreError> {
        let passed = run.results.iter().filter(|result| result.passed).count();
        let failed = run.results.len() - passed;
        self.run_as(Actor::User(user_id), move |conn| {
            async move {
                let sql = format!(
                    "insert into public.eval_runs
                        (user_id, suite, started_at, finished_at, passed, failed, results)
                     values ($1, $2, $3, $4, $5, $6, $7)
                     returning {FULL_COLUMNS}"
                );
                let row: RunRow = sqlx::query_as(&sql)
                    .bind(user_id)
                    .bind(&run.suite)
                    .bind(run.started_at)
                    .bind(run.finished_at)
                    .bind(i32::try_from(passed).unwrap_or(i32::MAX))
                    .bind(i32::try_from(failed).unwrap_or(i32::MAX))
                    .bind(Json(&run.results))
                    .fetch_one(conn)
                    .await?;
                Ok(row.into())
            }
            .boxed()
        })
        .await
    }

    /// The runs `actor` may see, newest first, without their per-case results.
    pub async fn list_eval_runs(&self, actor: Actor, page: Page) -> Result<Vec<EvalRun>, StoreError> {
        self.run_as(actor, move |conn| {
            async move {
                let sql = format!(
                    "select {SUMMARY_COLUMNS} from public.eval_runs
                      order by started_at desc, id limit $1 offset $2"
                );
                let rows: Vec<RunRow> = sqlx::query_as(&sql)
                    .bind(page.limit)
                    .bind(page.offset)
                    .fetch_all(conn)
                    .await?;
                Ok(rows.into_iter().map(EvalRun::from).collect())
            }
            .boxed()
        })
        .await
    }

    /// One run with its results.
    pub async fn get_eval_run(&self, actor: Actor, id: Uuid) -> Result<EvalRun, StoreError> {
        self.run_as(actor, move |conn| {
            async move {
                let sql = format!("select {FULL_COLUMNS} from public.eval_runs where id = $1");
                let row: RunRow = sqlx::query_as(&sql).bind(id).fetch_one(conn).await?;
                Ok(row.into())
            }
            .boxed()
        })
        .await
    }
}
