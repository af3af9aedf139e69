//! Usage aggregates over `llm_evaluations`, computed in SQL under the caller's RLS: a member
//! sees their own calls, a company admin the company's. Ratings come through each call's
//! message, from `public.message_ratings` (which applies the same visibility rule; the
//! messages table itself shows each user only their own rows).

use chrono::{DateTime, NaiveTime, Utc};
use futures::FutureExt;

use super::{Actor, Store, StoreError};
use crate::domain::{DayRange, UsageGroup, UsageRow, UsageStats, UsageSummary};

/// The calls of the window, with the grouping key. `$1` and `$2` bound the window.
const CALLS: &str = "select {key} as key, e.user_id, e.message_id, e.outcome, e.latency_ms, e.ttft_ms,
                            e.prompt_tokens, e.completion_tokens, e.tokens_per_second
                       from public.llm_evaluations e
                      where e.created_at >= $1 and e.created_at < $2";

/// The aggregates of `calls c`; `percentile_cont` skips NULLs, so TTFT percentiles cover the
/// calls that produced a first token.
const STATS: &str = "count(*) as requests,
       count(*) filter (where c.outcome in ('error', 'timeout')) as errors,
       coalesce(sum(c.prompt_tokens), 0)::bigint as prompt_tokens,
       coalesce(sum(c.completion_tokens), 0)::bigint as completion_tokens,
       avg(c.tokens_per_second) as avg_tokens_per_second,
       percentile_cont(0.5) within group (order by c.latency_ms) as latency_ms_p50,
       percentile_cont(0.95) within group (order by c.latency_ms) as latency_ms_p95,
       percentile_cont(0.5) within group (order by c.ttft_ms) as ttft_ms_p50,
       percentile_cont(0.95) within group (order by c.ttft_ms) as ttft_ms_p95";

/// Ratings of the answers the calls produced; a message that several calls name counts once.
const RATED: &str = "select c.key,
              count(*) filter (where r.rating = 1) as up,
              count(*) filter (where r.rating = -1) as down
         from (select distinct key, message_id from calls where message_id is not null) c
         join public.message_ratings r on r.message_id = c.message_id
        group by c.key";

const RATIO: &str = "case when coalesce(r.up, 0) + coalesce(r.down, 0) > 0
            then r.up::float8 / (r.up + r.down) end as rating_ratio";

/// Groups beyond this many are left out (models, agents and users are few; days ≤ 367).
const MAX_ROWS: i64 = 1000;

#[derive(sqlx::FromRow)]
struct StatsRow {
    requests: i64,
    errors: i64,
    prompt_tokens: i64,
    completion_tokens: i64,
    avg_tokens_per_second: Option<f64>,
    latency_ms_p50: Option<f64>,
    latency_ms_p95: Option<f64>,
    ttft_ms_p50: Option<f64>,
    ttft_ms_p95: Option<f64>,
    ratings_up: i64,
    ratings_down: i64,
    rating_ratio: Option<f64>,
}

impl From<StatsRow> for UsageStats {
    fn from(row: StatsRow) -> Self {
        UsageStats {
            requests: row.requests,
            errors: row.errors,
            prompt_tokens: row.prompt_tokens,
            completion_tokens: row.completion_tokens,
            avg_tokens_per_second: row.avg_tokens_per_second,
            latency_ms_p50: row.latency_ms_p50,
            latency_ms_p95: row.latency_ms_p95,
            ttft_ms_p50: row.ttft_ms_p50,
            ttft_ms_p95: row.ttft_ms_p95,
            ratings_up: row.ratings_up,
            ratings_down: row.ratings_down,
            rating_ratio: row.rating_ratio,
        }
    }
}

#[derive(sqlx::FromRow)]
struct GroupRow {
    key: Option<String>,
    label: Option<String>,
    #[sqlx(flatten)]
    stats: StatsRow,
}

#[derive(sqlx::FromRow)]
struct SummaryRow {
    users: i64,
    #[sqlx(flatten)]
    stats: StatsRow,
}

/// The SQL expression of a group's key.
fn key_expression(group: UsageGroup) -> &'static str {
    match group {
        UsageGroup::Model => "e.model",
        UsageGroup::Agent => "e.agent",
        UsageGroup::User => "e.user_id::text",
        UsageGroup::Day => "to_char((e.created_at at time zone 'UTC')::date, 'YYYY-MM-DD')",
    }
}

/// `[from 00:00, the day after to 00:00)` in UTC.
fn bounds(range: DayRange) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = range.from.and_time(NaiveTime::MIN).and_utc();
    let end = range
        .to
        .succ_opt()
        .unwrap_or(range.to)
        .and_time(NaiveTime::MIN)
        .and_utc();
    (start, end)
}

fn usage_sql(group: UsageGroup) -> String {
    let calls = CALLS.replace("{key}", key_expression(group));
    // Users get their email as a label (RLS: an admin reads the company's profiles, a member
    // their own); days read in order, the rest busiest first.
    let (label, label_join) = match group {
        UsageGroup::User => ("u.email", "left join public.users u on u.id::text = t.key"),
        _ => ("null::text", ""),
    };
    let order = match group {
        UsageGroup::Day => "t.key",
        _ => "t.requests desc, t.key nulls last",
    };
    format!(
        "with calls as ({calls}),
              totals as (select c.key, {STATS} from calls c group by c.key),
              rated as ({RATED})
         select t.*, {label} as label,
                coalesce(r.up, 0) as ratings_up, coalesce(r.down, 0) as ratings_down, {RATIO}
           from totals t
           left join rated r on r.key is not distinct from t.key
           {label_join}
          order by {order}
          limit {MAX_ROWS}"
    )
}

fn summary_sql() -> String {
    let calls = CALLS.replace("{key}", "null::text");
    format!(
        "with calls as ({calls}),
              rated as ({RATED})
         select count(distinct c.user_id) as users, {STATS},
                coalesce(max(r.up), 0) as ratings_up, coalesce(max(r.down), 0) as ratings_down,
                {ratio}
           from calls c
           left join rated r on true",
        ratio = RATIO
            .replace("r.up", "max(r.up)")
            .replace("r.down", "max(r.down)"),
    )
}

impl Store {
    /// Usage of the window grouped by `group`, as `actor` may see it.
    pub async fn usage(
        &self,
        actor: Actor,
        group: UsageGroup,
        range: DayRange,
    ) -> Result<Vec<UsageRow>, StoreError> {
        let (start, end) = bounds(range);
        self.run_as(actor, move |conn| {
            async move {
                let rows: Vec<GroupRow> = sqlx::query_as(&usage_sql(group))
                    .bind(start)
                    .bind(end)
                    .fetch_all(conn)
                    .await?;
                Ok(rows
                    .into_iter()
                    .map(|row| UsageRow {
                        key: row.key,
                        label: row.label,
                        stats: row.stats.into(),
                    })
                    .collect())
            }
            .boxed()
        })
        .await
    }

    /// The totals of the window, as `actor` may see them.
    pub async fn usage_summary(&self, actor: Actor, range: DayRange) -> Result<UsageSummary, StoreError> {
        let (start, end) = bounds(range);
        self.run_as(actor, move |conn| {
            async move {
                let row: SummaryRow = sqlx::query_as(&summary_sql())
                    .bind(start)
                    .bind(end)
                    .fetch_one(conn)
                    .await?;
                Ok(UsageSummary {
                    range,
                    users: row.users,
                    stats: row.stats.into(),
                })
            }
            .boxed()
        })
        .await
    }
}
