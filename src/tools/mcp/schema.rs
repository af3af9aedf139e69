//! External tool schemas made fit for the engine. A server's `inputSchema` may use what the
//! grammar converter and the argument checker do not take (`$ref` into `$defs`, type lists,
//! regex `pattern`s, exotic `format`s, `$schema` URIs): the schema offered to models keeps the
//! structure — properties, required, types, enums, bounds, items — and drops the rest; the
//! server still validates the arguments it receives.

use serde_json::{Map, Value, json};

/// References are inlined this deep; deeper (or cyclic) ones accept anything.
const MAX_DEPTH: usize = 12;

/// Keywords kept as they are (their values are plain data).
const PLAIN: [&str; 13] = [
    "description",
    "enum",
    "const",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "required",
    "title",
];

/// Formats the grammar converter knows; others are dropped.
const FORMATS: [&str; 4] = ["date", "time", "date-time", "uuid"];

/// The engine's version of `schema`: always an object schema.
pub fn for_engine(schema: &Map<String, Value>) -> Map<String, Value> {
    let definitions = definitions(schema);
    let converted = convert(&Value::Object(schema.clone()), &definitions, 0);
    let mut object = match converted {
        Value::Object(object) => object,
        _ => Map::new(),
    };
    object.insert("type".into(), json!("object"));
    object.entry("properties").or_insert_with(|| json!({}));
    object
}

fn definitions(schema: &Map<String, Value>) -> Map<String, Value> {
    let mut all = Map::new();
    for key in ["$defs", "definitions"] {
        if let Some(Value::Object(defs)) = schema.get(key) {
            for (name, def) in defs {
                all.insert(format!("#/{key}/{name}"), def.clone());
            }
        }
    }
    all
}

fn convert(schema: &Value, definitions: &Map<String, Value>, depth: usize) -> Value {
    let Value::Object(schema) = schema else {
        return json!({}); // `true`, `false` or junk: accept anything, the server decides
    };
    if depth > MAX_DEPTH {
        return json!({});
    }
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        return definitions
            .get(reference)
            .map_or_else(|| json!({}), |target| convert(target, definitions, depth + 1));
    }
    let mut out = Map::new();
    for key in PLAIN {
        if let Some(value) = schema.get(key) {
            out.insert(key.into(), value.clone());
        }
    }
    match schema.get("type") {
        Some(Value::String(kind)) => {
            out.insert("type".into(), json!(kind));
        }
        // `["string", "null"]`: the engine takes one type; a choice becomes `anyOf`.
        Some(Value::Array(kinds)) => {
            let kinds: Vec<&Value> = kinds.iter().filter(|kind| kind.is_string()).collect();
            if let [kind] = kinds.as_slice() {
                out.insert("type".into(), (*kind).clone());
            } else if !kinds.is_empty() {
                let choices = kinds.iter().map(|kind| json!({ "type": kind })).collect();
                out.insert("anyOf".into(), Value::Array(choices));
            }
        }
        _ => {}
    }
    if let Some(format) = schema.get("format").and_then(Value::as_str)
        && FORMATS.contains(&format)
    {
        out.insert("format".into(), json!(format));
    }
    if let Some(Value::Object(properties)) = schema.get("properties") {
        let converted = properties
            .iter()
            .map(|(name, property)| (name.clone(), convert(property, definitions, depth + 1)))
            .collect();
        out.insert("properties".into(), Value::Object(converted));
    }
    match schema.get("additionalProperties") {
        Some(Value::Bool(allowed)) => {
            out.insert("additionalProperties".into(), json!(allowed));
        }
        Some(nested @ Value::Object(_)) => {
            out.insert(
                "additionalProperties".into(),
                convert(nested, definitions, depth + 1),
            );
        }
        _ => {}
    }
    if let Some(items) = schema.get("items") {
        out.insert("items".into(), convert(items, definitions, depth + 1));
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(choices)) = schema.get(key) {
            let converted = choices
                .iter()
                .map(|choice| convert(choice, definitions, depth + 1))
                .collect();
            out.insert("anyOf".into(), Value::Array(converted));
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(schema: &Value) -> Value {
        Value::Object(for_engine(schema.as_object().unwrap()))
    }

    #[test]
    fn references_are_inlined_and_unsupported_keywords_dropped() {
        let schema = json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "properties": {
                "path": { "type": "string", "pattern": "^[a-z]+$", "format": "uri", "description": "A path" },
                "edits": { "type": "array", "items": { "$ref": "#/$defs/Edit" } },
                "mode": { "type": ["string", "null"] },
                "when": { "type": "string", "format": "date" }
            },
            "required": ["path"],
            "additionalProperties": false,
            "$defs": { "Edit": { "type": "object", "properties": { "old": { "type": "string" } } } }
        });
        assert_eq!(
            engine(&schema),
            json!({
                "type": "object",
                "properties": {
                    "path": { "type": "string", "description": "A path" },
                    "edits": { "type": "array", "items": { "type": "object", "properties": { "old": { "type": "string" } } } },
                    "mode": { "anyOf": [{ "type": "string" }, { "type": "null" }] },
                    "when": { "type": "string", "format": "date" }
                },
                "required": ["path"],
                "additionalProperties": false
            })
        );
    }

    #[test]
    fn a_cyclic_reference_ends_in_anything_and_an_empty_schema_becomes_an_object() {
        let cyclic = json!({
            "type": "object",
            "properties": { "node": { "$ref": "#/definitions/Node" } },
            "definitions": { "Node": { "type": "object", "properties": { "next": { "$ref": "#/definitions/Node" } } } }
        });
        let converted = engine(&cyclic).to_string();
        assert!(converted.contains("\"next\""), "{converted}");
        assert_eq!(engine(&json!({})), json!({ "type": "object", "properties": {} }));
    }
}
