//! What agent-written SQL may name: the KPI tables, and functions and types from allow-lists.
//! Everything else — the system catalogs (`pg_catalog`, `information_schema`), the platform's
//! other tables, functions that read settings, catalogs or files — is refused before the
//! statement reaches the database (see `check.rs` and `names.rs`).

/// The relations `sql_query` reads, unqualified or as `public.<name>`.
pub const KPI_TABLES: [&str; 5] = ["kpis", "kpi_values", "kpi_targets", "departments", "companies"];

/// Functions a read-only analysis may call: aggregates, window functions, arithmetic, text,
/// dates, JSON and arrays. None of them changes settings, runs SQL text, sleeps, locks or reads
/// the catalogs.
#[rustfmt::skip]
pub const ALLOWED_FUNCTIONS: &[&str] = &[
    // aggregates
    "array_agg", "avg", "bool_and", "bool_or", "corr", "count", "covar_pop", "covar_samp",
    "every", "json_agg", "json_object_agg", "jsonb_agg", "jsonb_object_agg", "max", "min", "mode",
    "percentile_cont", "percentile_disc", "regr_intercept", "regr_r2", "regr_slope", "stddev",
    "stddev_pop", "stddev_samp", "string_agg", "sum", "var_pop", "var_samp", "variance",
    // window functions
    "cume_dist", "dense_rank", "first_value", "lag", "last_value", "lead", "nth_value", "ntile",
    "percent_rank", "rank", "row_number",
    // conditionals and arithmetic
    "abs", "cbrt", "ceil", "ceiling", "coalesce", "div", "exp", "floor", "greatest", "least",
    "ln", "log", "log10", "mod", "nullif", "num_nonnulls", "num_nulls", "pi", "pow", "power",
    "round", "scale", "sign", "sqrt", "trunc", "width_bucket",
    // text
    "btrim", "char_length", "character_length", "concat", "concat_ws", "format", "initcap",
    "left", "length", "lower", "lpad", "ltrim", "md5", "octet_length", "overlay", "position",
    "regexp_match", "regexp_matches", "regexp_replace", "regexp_split_to_array",
    "regexp_split_to_table", "repeat", "replace", "reverse", "right", "rpad", "rtrim",
    "split_part", "starts_with", "strpos", "substr", "substring", "to_char", "to_number",
    "translate", "trim", "upper",
    // dates
    "age", "date", "date_bin", "date_part", "date_trunc", "extract", "generate_series",
    "isfinite", "justify_days", "justify_hours", "justify_interval", "make_date", "make_interval",
    "make_timestamp", "now", "to_date", "to_timestamp",
    // JSON and arrays
    "array_append", "array_length", "array_position", "array_remove", "array_to_string",
    "cardinality", "json_array_elements", "json_build_array", "json_build_object", "json_each",
    "json_typeof", "jsonb_array_elements", "jsonb_build_array", "jsonb_build_object",
    "jsonb_each", "jsonb_object_keys", "jsonb_typeof", "row_to_json", "string_to_array",
    "to_json", "to_jsonb", "unnest",
];

/// SQL constructs the parser reads as calls: `ARRAY(SELECT …)`, `ROW(a, b)`.
pub const CONSTRUCTORS: &[&str] = &["array", "row"];

/// Functions that only make sense where the database can stop a statement at its timeout.
pub const TIMEOUT_BOUND_FUNCTIONS: &[&str] = &["pg_sleep"];

/// The clock, written without parentheses (`current_date`): allowed.
pub const CLOCK_WORDS: &[&str] = &[
    "current_date",
    "current_time",
    "current_timestamp",
    "localtime",
    "localtimestamp",
];

/// Who and where the session is, written without parentheses (`current_user`): refused, they
/// read the session and the catalogs, not the KPI tables.
pub const SESSION_WORDS: &[&str] = &[
    "current_catalog",
    "current_role",
    "current_schema",
    "current_user",
    "session_user",
    "system_user",
    "user",
];

/// Type names a cast or a typed literal may use, beside the standard ones the parser knows
/// (`numeric`, `integer`, `text`, `date`, `timestamp`…). Not the `reg*` types, which read the
/// catalogs (`'pg_roles'::regclass`), nor table row types.
pub const ALLOWED_TYPE_NAMES: &[&str] = &["bpchar", "timetz"];

/// The refusal for `OPERATOR(schema.op)`, which names an operator by its schema.
pub const OPERATOR_REFUSAL: &str =
    "OPERATOR(…) is not allowed in sql_query; write the operator itself (+, =, ||, …)";

/// The refusal for a relation outside [`KPI_TABLES`].
pub fn relation_refusal(name: &str) -> String {
    format!(
        "sql_query reads only the KPI tables ({}); `{name}` is not one of them (system catalogs, \
         information_schema and the platform's other tables are not available)",
        KPI_TABLES.join(", ")
    )
}

/// The refusal for a function outside [`ALLOWED_FUNCTIONS`].
pub fn function_refusal(name: &str) -> String {
    format!(
        "the function {name}() is not allowed in sql_query; use aggregates (sum, avg, count, \
         min, max), window functions, arithmetic, text, date (date_trunc, extract, \
         generate_series), JSON or array functions"
    )
}
