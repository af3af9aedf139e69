//! What Ollama's requests share: `options` (the sampler and length settings), `format` (JSON,
//! or a JSON schema) and `keep_alive` (a duration: seconds, or Go's `5m`, `1h30m`; negative
//! keeps the model loaded, zero unloads it).

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::engine::chat::{ChatRequest, ResponseFormat};
use crate::http::compat::invalid;
use crate::http::error::ApiError;
use crate::service::completions::Residency;

/// Answer tokens when `num_predict` is unset or unlimited.
const DEFAULT_PREDICT: u32 = 1024;

/// Ollama's model options; others (`num_ctx`: the model's configured context applies;
/// `num_thread`, `mirostat`...) are accepted and ignored, as Ollama does with options a runner
/// does not use.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[schema(as = OllamaOptions)]
pub struct Options {
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub top_k: Option<i32>,
    pub min_p: Option<f32>,
    /// Answer tokens at most; -1 or -2: as many as the context allows (up to 1,024).
    pub num_predict: Option<i64>,
    pub seed: Option<i64>,
    pub stop: Option<Vec<String>>,
    pub repeat_penalty: Option<f32>,
    pub repeat_last_n: Option<i32>,
    pub frequency_penalty: Option<f32>,
    pub presence_penalty: Option<f32>,
}

impl Options {
    /// `num_predict` as a cap on answer tokens, when it sets one.
    pub fn max_tokens(&self) -> Option<u32> {
        self.num_predict
            .filter(|n| *n > 0)
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// Applies the options to `request`; out-of-range values are refused.
    pub fn apply(&self, request: &mut ChatRequest) -> Result<(), ApiError> {
        if self.num_predict == Some(0) {
            return Err(invalid("options", "num_predict must be at least 1 (or -1)"));
        }
        request.max_tokens = self.max_tokens().unwrap_or(DEFAULT_PREDICT);
        if let Some(stop) = &self.stop {
            if stop.iter().any(String::is_empty) || stop.len() > 16 {
                return Err(invalid("options", "stop must be at most 16 non-empty strings"));
            }
            request.stop.clone_from(stop);
        }
        let sampling = &mut request.sampling;
        let range = |name: &str, value: f32, low: f32, high: f32| {
            if (low..=high).contains(&value) {
                Ok(value)
            } else {
                Err(invalid(
                    "options",
                    format!("{name} must be between {low} and {high}"),
                ))
            }
        };
        if let Some(value) = self.temperature {
            sampling.temperature = range("temperature", value, 0.0, 2.0)?;
        }
        if let Some(value) = self.top_p {
            sampling.top_p = range("top_p", value, 0.0, 1.0)?;
        }
        if let Some(value) = self.min_p {
            sampling.min_p = range("min_p", value, 0.0, 1.0)?;
        }
        if let Some(value) = self.top_k {
            sampling.top_k = value.max(0);
        }
        if let Some(value) = self.repeat_penalty {
            sampling.repeat_penalty = range("repeat_penalty", value, 0.0, 10.0)?;
        }
        if let Some(value) = self.repeat_last_n {
            sampling.repeat_last_n = value.max(-1);
        }
        if let Some(value) = self.frequency_penalty {
            sampling.frequency_penalty = range("frequency_penalty", value, -2.0, 2.0)?;
        }
        if let Some(value) = self.presence_penalty {
            sampling.presence_penalty = range("presence_penalty", value, -2.0, 2.0)?;
        }
        if let Some(seed) = self.seed {
            sampling.seed = u32::try_from(seed.rem_euclid(1 << 32)).unwrap_or_default();
        }
        Ok(())
    }
}

/// `format`: `"json"`, a JSON schema, or nothing.
pub fn format(format: Option<&Value>) -> Result<Option<ResponseFormat>, ApiError> {
    match format {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(kind)) if kind.is_empty() => Ok(None),
        Some(Value::String(kind)) if kind == "json" => Ok(Some(ResponseFormat::JsonObject)),
        Some(schema @ Value::Object(_)) => Ok(Some(ResponseFormat::JsonSchema {
            name: "format".to_owned(),
            schema: schema.clone(),
            strict: true,
        })),
        Some(_) => Err(invalid(
            "format",
            "format must be \"json\" or a JSON schema object",
        )),
    }
}

/// `keep_alive`: a number of seconds or a duration string (`5m`, `1h30m`, `300ms`, `-1`).
pub fn keep_alive(value: Option<&Value>) -> Result<Option<Residency>, ApiError> {
    let wrong = || {
        invalid(
            "keep_alive",
            "keep_alive must be seconds or a duration like \"5m\" (negative: keep loaded, 0: unload now)",
        )
    };
    let seconds: f64 = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(number)) => number.as_f64().ok_or_else(wrong)?,
        Some(Value::String(text)) => duration_seconds(text.trim()).ok_or_else(wrong)?,
        Some(_) => return Err(wrong()),
    };
    if seconds < 0.0 {
        return Ok(Some(Residency::Forever));
    }
    Duration::try_from_secs_f64(seconds)
        .map(|time| Some(Residency::For(time)))
        .map_err(|_| wrong())
}

/// Seconds of a Go duration (`1h2m3.5s`, `-1m`, `300ms`) or of a bare number.
fn duration_seconds(text: &str) -> Option<f64> {
    if let Ok(seconds) = text.parse::<f64>() {
        return Some(seconds);
    }
    let (sign, mut rest) = match text.strip_prefix('-') {
        Some(rest) => (-1.0, rest),
        None => (1.0, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest.is_empty() {
        return None;
    }
    let mut total = 0.0;
    while !rest.is_empty() {
        let number_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let number: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += number * scale;
        rest = &rest[unit_end..];
    }
    Some(sign * total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_alive_reads_seconds_and_go_durations() {
        let seconds = |value: Value| match keep_alive(Some(&value)).unwrap() {
            Some(Residency::For(time)) => time.as_secs_f64(),
            other => panic!("{value}: {other:?}"),
        };
        assert!((seconds(serde_json::json!(30)) - 30.0).abs() < 1e-9);
        assert!((seconds(serde_json::json!("5m")) - 300.0).abs() < 1e-9);
        assert!((seconds(serde_json::json!("1h2m3.5s")) - 3723.5).abs() < 1e-9);
        assert!((seconds(serde_json::json!("300ms")) - 0.3).abs() < 1e-9);
        assert!((seconds(serde_json::json!("0")) - 0.0).abs() < 1e-9);
        for forever in [
            serde_json::json!(-1),
            serde_json::json!("-1"),
            serde_json::json!("-5m"),
        ] {
            assert_eq!(
                keep_alive(Some(&forever)).unwrap(),
                Some(Residency::Forever),
                "{forever}"
            );
        }
        assert_eq!(keep_alive(None).unwrap(), None);
        for wrong in [
            serde_json::json!("soon"),
            serde_json::json!("5x"),
            serde_json::json!(true),
            serde_json::json!(""),
        ] {
            assert!(keep_alive(Some(&wrong)).is_err(), "{wrong}");
        }
    }

    #[test]
    fn format_is_json_or_a_schema() {
        assert_eq!(
            format(Some(&serde_json::json!("json"))).unwrap(),
            Some(ResponseFormat::JsonObject)
        );
        assert_eq!(format(Some(&serde_json::json!(""))).unwrap(), None);
        assert!(matches!(
            format(Some(&serde_json::json!({"type": "object"}))).unwrap(),
            Some(ResponseFormat::JsonSchema { .. })
        ));
        assert!(format(Some(&serde_json::json!("yaml"))).is_err());
    }
}
