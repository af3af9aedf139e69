//! Does an answer fit the schema the document gives it? A JSON Schema check of the keywords the
//! document uses (`$ref`, `allOf`, `oneOf`, `anyOf`, `type`, `enum`, `required`, `properties`,
//! `items`) that is stricter than JSON Schema in one way: an object may carry only documented
//! properties, so a field the server sends but the document leaves out is caught.

use std::collections::BTreeSet;

use serde_json::Value;

pub struct Conform<'a> {
    document: &'a Value,
}

impl<'a> Conform<'a> {
    pub fn new(document: &'a Value) -> Self {
        Self { document }
    }

    pub fn document(&self) -> &'a Value {
        self.document
    }

    /// The schema of the JSON answer `method path` documents for `status` (or its `default`).
    pub fn response_schema(&self, method: &str, path: &str, status: u16) -> Result<&Value, String> {
        let responses = &self.document["paths"][path][method]["responses"];
        let response = responses
            .get(status.to_string())
            .or_else(|| responses.get("default").filter(|_| status >= 400))
            .ok_or_else(|| format!("{method} {path} documents no {status} answer"))?;
        self.resolve(response)["content"]["application/json"]
            .get("schema")
            .ok_or_else(|| format!("{method} {path} documents no JSON body for {status}"))
    }

    /// Every way `value` breaks `schema`, each with where.
    pub fn problems(&self, schema: &Value, value: &Value) -> Vec<String> {
        let mut found = Vec::new();
        self.check(schema, value, "body", true, &mut found);
        found
    }

    /// Follows `$ref`s to the schema they name.
    fn resolve<'s>(&'s self, mut schema: &'s Value) -> &'s Value {
        while let Some(target) = schema.get("$ref").and_then(Value::as_str) {
            schema = target
                .strip_prefix('#')
                .and_then(|pointer| self.document.pointer(pointer))
                .unwrap_or_else(|| panic!("{target} does not resolve"));
        }
        schema
    }

    fn check(&self, schema: &Value, value: &Value, at: &str, strict: bool, found: &mut Vec<String>) {
        let schema = self.resolve(schema);
        for part in list(schema, "allOf") {
            self.check(part, value, at, false, found);
        }
        for (keyword, exactly_one) in [("oneOf", true), ("anyOf", false)] {
            let parts = list(schema, keyword);
            if parts.is_empty() {
                continue;
            }
            let fitting = parts
                .iter()
                .filter(|part| {
                    let mut inner = Vec::new();
                    self.check(part, value, at, false, &mut inner);
                    inner.is_empty()
                })
                .count();
            if fitting == 0 || (exactly_one && fitting > 1) {
                found.push(format!("{at}: {value} fits {fitting} of the {keyword} schemas"));
            }
        }
        if let Some(expected) = schema.get("type")
            && !type_fits(expected, value)
        {
            found.push(format!("{at}: {value} is not of type {expected}"));
            return;
        }
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
            && !allowed.contains(value)
        {
            found.push(format!(
                "{at}: {value} is not one of {}",
                Value::Array(allowed.clone())
            ));
        }
        match value {
            Value::Object(object) => {
                for key in list(schema, "required") {
                    let key = key.as_str().unwrap_or_default();
                    if !object.contains_key(key) {
                        found.push(format!("{at}: the required `{key}` is missing"));
                    }
                }
                if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                    for (key, inner) in object {
                        if let Some(property) = properties.get(key) {
                            self.check(property, inner, &format!("{at}.{key}"), true, found);
                        }
                    }
                }
                if strict && let Some(known) = self.known_properties(schema) {
                    for key in object.keys().filter(|key| !known.contains(*key)) {
                        found.push(format!("{at}: `{key}` is sent but not documented"));
                    }
                }
            }
            Value::Array(items) => {
                if let Some(item_schema) = schema.get("items") {
                    for (index, item) in items.iter().enumerate() {
                        self.check(item_schema, item, &format!("{at}[{index}]"), true, found);
                    }
                }
            }
            _ => {}
        }
    }

    /// The property names an object fitting `schema` may have; `None` when it may have any.
    fn known_properties(&self, schema: &Value) -> Option<BTreeSet<String>> {
        let schema = self.resolve(schema);
        let parts: Vec<&Value> = ["allOf", "oneOf", "anyOf"]
            .into_iter()
            .flat_map(|keyword| list(schema, keyword))
            .collect();
        let properties = schema.get("properties").and_then(Value::as_object);
        if properties.is_none() && parts.is_empty() {
            return None;
        }
        let mut known: BTreeSet<String> = properties.into_iter().flat_map(|p| p.keys().cloned()).collect();
        for part in parts {
            if part.get("type").and_then(Value::as_str) == Some("null") {
                continue;
            }
            known.extend(self.known_properties(part)?);
        }
        Some(known)
    }
}

fn list<'v>(schema: &'v Value, keyword: &str) -> &'v [Value] {
    schema
        .get(keyword)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn type_fits(expected: &Value, value: &Value) -> bool {
    let fits = |name: &str| match name {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => false,
    };
    match expected {
        Value::String(name) => fits(name),
        Value::Array(names) => names.iter().filter_map(Value::as_str).any(fits),
        _ => false,
    }
}

#[test]
fn the_check_finds_what_breaks_a_schema() {
    let document = serde_json::json!({"components": {"schemas": {
        "Base": {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]},
        "Kind": {"type": "string", "enum": ["a", "b"]},
        "Item": {"allOf": [
            {"$ref": "#/components/schemas/Base"},
            {"type": "object", "properties": {
                "kind": {"$ref": "#/components/schemas/Kind"},
                "note": {"type": ["string", "null"]},
                "value": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "number"}}]}
            }, "required": ["kind"]}
        ]}
    }}});
    let conform = Conform::new(&document);
    let schema = serde_json::json!({"type": "array", "items": {"$ref": "#/components/schemas/Item"}});
    let fits = serde_json::json!([{"id": 1, "kind": "a", "note": null, "value": [1.5]}]);
    assert_eq!(conform.problems(&schema, &fits), Vec::<String>::new());

    let breaks = serde_json::json!([
        {"kind": "c", "value": true, "extra": 1},
        {"id": "1", "kind": "b", "note": 2}
    ]);
    let problems = conform.problems(&schema, &breaks);
    for expected in [
        "body[0]: the required `id` is missing",
        "body[0].kind: \"c\" is not one of",
        "body[0].value: true fits 0 of the oneOf schemas",
        "body[0]: `extra` is sent but not documented",
        "body[1].id: \"1\" is not of type",
        "body[1].note: 2 is not of type",
    ] {
        assert!(
            problems.iter().any(|p| p.starts_with(expected)),
            "{expected:?} not in {problems:#?}"
        );
    }
    assert_eq!(problems.len(), 6, "{problems:#?}");
}
