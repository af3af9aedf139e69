//! Prometheus metrics, served as text at `GET /metrics`.
//!
//! Built on `prometheus-client`: its registry is a plain value that this handle owns and passes
//! around like every other service (the `metrics` facade crate would need a process-global
//! recorder, which the platform does not use). Counters and histograms are updated where the
//! work happens (the HTTP middleware, the model router); gauges that describe the state of
//! things (tasks, the database pool, loaded models) are read when Prometheus scrapes.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Metric, Registry, Unit};

/// The content type of [`Metrics::render`]: Prometheus' text exposition format.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    /// The route's pattern (`/api/v1/sessions/{id}`), never the raw path: bounded cardinality.
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    model: String,
    provider: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    model: String,
    provider: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LoadedLabels {
    model: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// The state read at scrape time (see [`Metrics::render`]).
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Background tasks per status (`queued`, `running`, …).
    pub tasks_by_status: Vec<(String, u64)>,
    pub pool: PoolStats,
    /// Models in memory and the bytes each takes.
    pub loaded_models: Vec<(String, u64)>,
    pub memory_budget_bytes: u64,
}

/// The database connection pool.
#[derive(Debug, Clone, Copy, Default)]
pub struct PoolStats {
    pub size: u32,
    pub idle: u32,
    pub max: u32,
}

/// Statuses reported even when no task has them, so a dashboard's series never vanish.
const TASK_STATUSES: [&str; 5] = ["queued", "running", "succeeded", "failed", "cancelled"];

/// A cheap, clonable handle to the process's metrics.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_duration: Family<RequestLabels, Histogram>,
    in_flight: Gauge,
    generations: Family<OutcomeLabels, Counter>,
    completion_tokens: Family<ModelLabels, Counter>,
    prompt_tokens: Family<ModelLabels, Counter>,
    cached_prompt_tokens: Family<ModelLabels, Counter>,
    ttft: Family<ModelLabels, Histogram>,
    tokens_per_second: Family<ModelLabels, Histogram>,
    last_tokens_per_second: Family<ModelLabels, FloatGauge>,
    state: StateGauges,
}

/// Gauges set from a [`Snapshot`] at scrape time.
struct StateGauges {
    tasks: Family<StatusLabels, Gauge>,
    queue_depth: Gauge,
    pool_size: Gauge,
    pool_idle: Gauge,
    pool_max: Gauge,
    model_memory: Family<LoadedLabels, Gauge>,
    models_loaded: Gauge,
    memory_budget: Gauge,
}

impl StateGauges {
    fn register(r: &mut Registry) -> Self {
        Self {
            tasks: register(r, "tasks", "Background tasks, by status", None, Family::default()),
            queue_depth: register(
                r,
                "task_queue_depth",
                "Background tasks waiting to run",
                None,
                Gauge::default(),
            ),
            pool_size: register(
                r,
                "db_pool_connections",
                "Open database connections",
                None,
                Gauge::default(),
            ),
            pool_idle: register(
                r,
                "db_pool_idle_connections",
                "Open database connections not in use",
                None,
                Gauge::default(),
            ),
            pool_max: register(
                r,
                "db_pool_max_connections",
                "The database pool's size limit",
                None,
                Gauge::default(),
            ),
            model_memory: register(
                r,
                "model_memory",
                "Memory taken by each loaded model",
                Some(Unit::Bytes),
                Family::default(),
            ),
            models_loaded: register(r, "models_loaded", "Models in memory", None, Gauge::default()),
            memory_budget: register(
                r,
                "model_memory_budget",
                "Memory the loaded models may take together (engine.memory_budget_mb)",
                Some(Unit::Bytes),
                Gauge::default(),
            ),
        }
    }
}

/// Registers `metric` (a handle: the registry keeps a clone) and returns it.
fn register<M: Metric + Clone>(
    registry: &mut Registry,
    name: &str,
    help: &str,
    unit: Option<Unit>,
    metric: M,
) -> M {
    match unit {
        Some(unit) => registry.register_with_unit(name, help, unit, metric.clone()),
        None => registry.register(name, help, metric.clone()),
    }
    metric
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn latency_histogram() -> Histogram {
    // 5 ms .. ~20 s: API calls are fast, chat streams are answered within seconds.
    Histogram::new([
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0,
    ])
}

fn ttft_histogram() -> Histogram {
    // 50 ms .. 60 s: a loaded small model answers in tens of milliseconds, a cold 32B model on
    // a CPU in tens of seconds.
    Histogram::new([0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0])
}

fn speed_histogram() -> Histogram {
    Histogram::new([1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0])
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("agentbox");
        let r = &mut registry;
        let requests = register(
            r,
            "http_requests",
            "HTTP requests answered, by method, matched route and status",
            None,
            Family::default(),
        );
        let request_duration = register(
            r,
            "http_request_duration",
            "Time to answer an HTTP request (to the response head; streams run on)",
            Some(Unit::Seconds),
            Family::new_with_constructor(latency_histogram as fn() -> Histogram),
        );
        let in_flight = register(
            r,
            "http_requests_in_flight",
            "HTTP requests being answered now",
            None,
            Gauge::default(),
        );
        let generations = register(
            r,
            "generations",
            "Model calls that finished, by model, provider and outcome (ok, error)",
            None,
            Family::default(),
        );
        let completion_tokens = register(
            r,
            "tokens_generated",
            "Tokens generated by the models",
            None,
            Family::default(),
        );
        let prompt_tokens = register(
            r,
            "prompt_tokens",
            "Prompt tokens the models processed",
            None,
            Family::default(),
        );
        let cached_prompt_tokens = register(
            r,
            "prompt_tokens_cached",
            "Of the prompt tokens, those a local model's prompt cache held (not evaluated again)",
            None,
            Family::default(),
        );
        let ttft = register(
            r,
            "time_to_first_token",
            "Time from a model call to its first generated token",
            Some(Unit::Seconds),
            Family::new_with_constructor(ttft_histogram as fn() -> Histogram),
        );
        let tokens_per_second = register(
            r,
            "generation_tokens_per_second",
            "Decode speed of each model call (tokens after the first, per second)",
            None,
            Family::new_with_constructor(speed_histogram as fn() -> Histogram),
        );
        let last_tokens_per_second = register(
            r,
            "last_generation_tokens_per_second",
            "Decode speed of the most recent model call",
            None,
            Family::default(),
        );
        let state = StateGauges::register(r);
        Self {
            inner: Arc::new(Inner {
                registry,
                requests,
                request_duration,
                in_flight,
                generations,
                completion_tokens,
                prompt_tokens,
                cached_prompt_tokens,
                ttft,
                tokens_per_second,
                last_tokens_per_second,
                state,
            }),
        }
    }

    /// A request started; the guard counts it in flight until it is dropped.
    pub fn request_started(&self) -> InFlight {
        self.inner.in_flight.inc();
        InFlight(self.inner.in_flight.clone())
    }

    /// Records one answered request. `route` must be the matched pattern (or a fixed word for
    /// requests no route matched), never the path the client sent.
    pub fn record_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let labels = RequestLabels {
            method: method.to_owned(),
            route: route.to_owned(),
            status,
        };
        self.inner.requests.get_or_create(&labels).inc();
        self.inner
            .request_duration
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
    }

    /// Records one model call that finished with `stats`.
    pub fn record_generation(&self, model: &str, provider: &str, generation: &Generation) {
        let labels = ModelLabels {
            model: model.to_owned(),
            provider: provider.to_owned(),
        };
        self.inner
            .generations
            .get_or_create(&OutcomeLabels {
                model: labels.model.clone(),
                provider: labels.provider.clone(),
                outcome: "ok".to_owned(),
            })
            .inc();
        self.inner
            .completion_tokens
            .get_or_create(&labels)
            .inc_by(u64::from(generation.completion_tokens));
        self.inner
            .prompt_tokens
            .get_or_create(&labels)
            .inc_by(u64::from(generation.prompt_tokens));
        self.inner
            .cached_prompt_tokens
            .get_or_create(&labels)
            .inc_by(u64::from(generation.cached_prompt_tokens));
        if generation.completion_tokens > 0 {
            self.inner
                .ttft
                .get_or_create(&labels)
                .observe(generation.time_to_first_token.as_secs_f64());
        }
        if generation.tokens_per_second > 0.0 {
            self.inner
                .tokens_per_second
                .get_or_create(&labels)
                .observe(generation.tokens_per_second);
            self.inner
                .last_tokens_per_second
                .get_or_create(&labels)
                .set(generation.tokens_per_second);
        }
    }

    /// Records a model call that failed after it started.
    pub fn record_generation_error(&self, model: &str, provider: &str) {
        self.inner
            .generations
            .get_or_create(&OutcomeLabels {
                model: model.to_owned(),
                provider: provider.to_owned(),
                outcome: "error".to_owned(),
            })
            .inc();
    }

    /// The metrics in Prometheus' text format, with the gauges set from `snapshot`.
    pub fn render(&self, snapshot: &Snapshot) -> String {
        let state = &self.inner.state;
        state.tasks.clear();
        for status in TASK_STATUSES {
            state
                .tasks
                .get_or_create(&StatusLabels {
                    status: status.to_owned(),
                })
                .set(0);
        }
        let mut queued = 0;
        for (status, count) in &snapshot.tasks_by_status {
            let count = i64::try_from(*count).unwrap_or(i64::MAX);
            state
                .tasks
                .get_or_create(&StatusLabels {
                    status: status.clone(),
                })
                .set(count);
            if status == "queued" {
                queued = count;
            }
        }
        state.queue_depth.set(queued);
        state.pool_size.set(i64::from(snapshot.pool.size));
        state.pool_idle.set(i64::from(snapshot.pool.idle));
        state.pool_max.set(i64::from(snapshot.pool.max));
        // Unloaded models leave the family: their series end instead of freezing.
        state.model_memory.clear();
        for (model, bytes) in &snapshot.loaded_models {
            state
                .model_memory
                .get_or_create(&LoadedLabels { model: model.clone() })
                .set(i64::try_from(*bytes).unwrap_or(i64::MAX));
        }
        state
            .models_loaded
            .set(i64::try_from(snapshot.loaded_models.len()).unwrap_or(i64::MAX));
        state
            .memory_budget
            .set(i64::try_from(snapshot.memory_budget_bytes).unwrap_or(i64::MAX));
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.inner.registry).is_err() {
            // Writing into a String cannot fail; say so rather than serve half a page.
            text.clear();
            let _ = writeln!(text, "# metrics could not be encoded");
        }
        text
    }
}

/// The numbers of one finished model call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Generation {
    pub prompt_tokens: u32,
    /// Of `prompt_tokens`, those reused from the prompt cache.
    pub cached_prompt_tokens: u32,
    pub completion_tokens: u32,
    pub time_to_first_token: Duration,
    pub tokens_per_second: f64,
}

/// Counts a request in flight until dropped (also when the client goes away mid-request).
#[derive(Debug)]
pub struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line_value(text: &str, prefix: &str) -> Option<f64> {
        text.lines()
            .find(|line| line.starts_with(prefix))
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|value| value.parse().ok())
    }

    #[test]
    fn requests_are_counted_by_route_pattern_and_status_with_latency_buckets() {
        let metrics = Metrics::new();
        metrics.record_request("GET", "/api/v1/sessions/{id}", 200, Duration::from_millis(30));
        metrics.record_request("GET", "/api/v1/sessions/{id}", 200, Duration::from_millis(3));
        metrics.record_request("GET", "/api/v1/sessions/{id}", 404, Duration::from_millis(3));
        let text = metrics.render(&Snapshot::default());
        let ok = r#"agentbox_http_requests_total{method="GET",route="/api/v1/sessions/{id}",status="200"}"#;
        assert_eq!(line_value(&text, ok), Some(2.0), "{text}");
        let bucket = r#"agentbox_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/api/v1/sessions/{id}",status="200"}"#;
        assert_eq!(
            line_value(&text, bucket),
            Some(1.0),
            "one of the two was under 5 ms:\n{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn generations_record_tokens_ttft_and_speed() {
        let metrics = Metrics::new();
        let generation = Generation {
            prompt_tokens: 12,
            cached_prompt_tokens: 9,
            completion_tokens: 40,
            time_to_first_token: Duration::from_millis(80),
            tokens_per_second: 55.0,
        };
        metrics.record_generation("tiny", "local", &generation);
        metrics.record_generation("tiny", "local", &generation);
        metrics.record_generation_error("tiny", "local");
        let text = metrics.render(&Snapshot::default());
        let labels = r#"{model="tiny",provider="local"}"#;
        assert_eq!(
            line_value(&text, &format!("agentbox_tokens_generated_total{labels}")),
            Some(80.0)
        );
        assert_eq!(
            line_value(&text, &format!("agentbox_prompt_tokens_total{labels}")),
            Some(24.0)
        );
        assert_eq!(
            line_value(&text, &format!("agentbox_prompt_tokens_cached_total{labels}")),
            Some(18.0)
        );
        assert_eq!(
            line_value(
                &text,
                &format!("agentbox_time_to_first_token_seconds_count{labels}")
            ),
            Some(2.0)
        );
        assert_eq!(
            line_value(
                &text,
                &format!("agentbox_last_generation_tokens_per_second{labels}")
            ),
            Some(55.0)
        );
        assert_eq!(
            line_value(
                &text,
                r#"agentbox_generations_total{model="tiny",provider="local",outcome="error"}"#
            ),
            Some(1.0)
        );
    }

    #[test]
    fn gauges_follow_the_snapshot_and_forget_unloaded_models() {
        let metrics = Metrics::new();
        let mut snapshot = Snapshot {
            tasks_by_status: vec![("queued".into(), 3), ("running".into(), 1)],
            pool: PoolStats {
                size: 1,
                idle: 0,
                max: 1,
            },
            loaded_models: vec![("tiny".into(), 1000)],
            memory_budget_bytes: 4096,
        };
        let text = metrics.render(&snapshot);
        assert_eq!(
            line_value(&text, "agentbox_task_queue_depth "),
            Some(3.0),
            "{text}"
        );
        assert_eq!(
            line_value(&text, r#"agentbox_tasks{status="running"}"#),
            Some(1.0)
        );
        assert_eq!(line_value(&text, r#"agentbox_tasks{status="failed"}"#), Some(0.0));
        assert_eq!(line_value(&text, "agentbox_db_pool_max_connections "), Some(1.0));
        assert_eq!(
            line_value(&text, r#"agentbox_model_memory_bytes{model="tiny"}"#),
            Some(1000.0)
        );
        snapshot.loaded_models.clear();
        let text = metrics.render(&snapshot);
        assert!(!text.contains(r#"model="tiny""#), "{text}");
        assert_eq!(line_value(&text, "agentbox_models_loaded "), Some(0.0));
    }

    #[test]
    fn in_flight_requests_are_counted_until_the_guard_drops() {
        let metrics = Metrics::new();
        let guard = metrics.request_started();
        let text = metrics.render(&Snapshot::default());
        assert_eq!(line_value(&text, "agentbox_http_requests_in_flight "), Some(1.0));
        drop(guard);
        let text = metrics.render(&Snapshot::default());
        assert_eq!(line_value(&text, "agentbox_http_requests_in_flight "), Some(0.0));
    }
}
