//! Checks tool arguments against the tool's JSON schema before the tool runs: a model (or an
//! MCP client) that sends garbage gets told exactly what is wrong, and the tool never sees it.
//! Covers the keywords tool schemas use — `type`, `properties`, `required`,
//! `additionalProperties`, `enum`, `const`, `minimum`/`maximum`, `minLength`/`maxLength`,
//! `items`, `minItems`/`maxItems`, `format: date` — and ignores the rest (titles,
//! descriptions, defaults), as validators do.

use serde_json::{Map, Value};

/// `Ok` when `value` fits `schema`; otherwise the first problem, with its JSON path.
pub fn validate(schema: &Value, value: &Value) -> Result<(), String> {
    check(schema, value, "arguments")
}

fn check(schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let Some(schema) = schema.as_object() else {
        return Ok(()); // `true` / missing: anything goes
    };
    if let Some(expected) = schema.get("type") {
        check_type(expected, value, at)?;
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        return Err(format!("{at} must be one of {}", Value::Array(allowed.clone())));
    }
    if let Some(constant) = schema.get("const")
        && constant != value
    {
        return Err(format!("{at} must be {constant}"));
    }
    match value {
        Value::Object(fields) => check_object(schema, fields, at),
        Value::Array(items) => check_array(schema, items, at),
        Value::String(text) => check_string(schema, text, at),
        Value::Number(number) => check_number(schema, number.as_f64().unwrap_or(f64::NAN), at),
        Value::Bool(_) | Value::Null => Ok(()),
    }
}

fn check_type(expected: &Value, value: &Value, at: &str) -> Result<(), String> {
    let names: Vec<&str> = match expected {
        Value::String(name) => vec![name.as_str()],
        Value::Array(names) => names.iter().filter_map(Value::as_str).collect(),
        _ => return Ok(()),
    };
    if names.iter().any(|name| has_type(name, value)) {
        Ok(())
    } else {
        Err(format!(
            "{at} must be {}, not {}",
            names.join(" or "),
            type_name(value)
        ))
    }
}

fn has_type(name: &str, value: &Value) -> bool {
    match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "number" => value.is_number(),
        "integer" => value.as_f64().is_some_and(|n| n.fract() == 0.0),
        _ => true,
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Object(_) => "an object",
        Value::Array(_) => "an array",
        Value::String(_) => "a string",
        Value::Bool(_) => "a boolean",
        Value::Null => "null",
        Value::Number(_) => "a number",
    }
}

fn check_object(schema: &Map<String, Value>, fields: &Map<String, Value>, at: &str) -> Result<(), String> {
    let properties = schema.get("properties").and_then(Value::as_object);
    for name in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(name) = name.as_str()
            && !fields.contains_key(name)
        {
            return Err(format!("{at} is missing the required field `{name}`"));
        }
    }
    let closed = schema.get("additionalProperties") == Some(&Value::Bool(false));
    for (name, field) in fields {
        match properties.and_then(|p| p.get(name)) {
            Some(field_schema) => check(field_schema, field, &format!("{at}.{name}"))?,
            None if closed => {
                let known: Vec<&String> = properties.map(|p| p.keys().collect()).unwrap_or_default();
                return Err(format!("{at} has an unknown field `{name}` (known: {known:?})"));
            }
            None => {}
        }
    }
    Ok(())
}

fn check_array(schema: &Map<String, Value>, items: &[Value], at: &str) -> Result<(), String> {
    if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
        && (items.len() as u64) < min
    {
        return Err(format!("{at} needs at least {min} items"));
    }
    if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
        && (items.len() as u64) > max
    {
        return Err(format!("{at} allows at most {max} items"));
    }
    if let Some(item_schema) = schema.get("items") {
        for (i, item) in items.iter().enumerate() {
            check(item_schema, item, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

fn check_string(schema: &Map<String, Value>, text: &str, at: &str) -> Result<(), String> {
    let chars = text.chars().count() as u64;
    if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
        && chars < min
    {
        return Err(format!("{at} needs at least {min} characters"));
    }
    if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
        && chars > max
    {
        return Err(format!("{at} allows at most {max} characters"));
    }
    if schema.get("format").and_then(Value::as_str) == Some("date")
        && chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_err()
    {
        return Err(format!("{at} must be a date like 2026-01-31, not {text:?}"));
    }
    Ok(())
}

fn check_number(schema: &Map<String, Value>, number: f64, at: &str) -> Result<(), String> {
    if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
        && number < min
    {
        return Err(format!("{at} must be at least {min}"));
    }
    if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
        && number > max
    {
        return Err(format!("{at} must be at most {max}"));
    }
    Ok(())
}
