//! The web UI keeps a copy of the OpenAPI document (`assets/ui/openapi.json`) and generates its
//! TypeScript types from it (`assets/ui/src/api/schema.d.ts`): the copy must be the document the
//! code serves, or the UI is typed against an API that no longer exists.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

/// The keys of `a` and `b` under `pointer` whose values differ (added, removed or changed).
fn differing(a: &Value, b: &Value, pointer: &str) -> BTreeSet<String> {
    let empty = serde_json::Map::new();
    let a = a.pointer(pointer).and_then(Value::as_object).unwrap_or(&empty);
    let b = b.pointer(pointer).and_then(Value::as_object).unwrap_or(&empty);
    a.keys()
        .chain(b.keys())
        .filter(|key| a.get(*key) != b.get(*key))
        .cloned()
        .collect()
}

#[test]
fn the_ui_copy_of_the_openapi_document_is_current() {
    let served = serde_json::to_value(agentbox::http::openapi_document()).expect("the document serializes");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/ui/openapi.json");
    // scripts/refresh-ui-api.sh runs this test with the variable set to write the copy.
    if std::env::var_os("AGENTBOX_REFRESH_UI_API").is_some() {
        let text = serde_json::to_string_pretty(&served).expect("the document serializes") + "\n";
        std::fs::write(&path, text).expect("assets/ui/openapi.json is writable");
        return;
    }
    let copy: Value = std::fs::read_to_string(&path)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or(Value::Null);
    assert!(
        copy == served,
        "assets/ui/openapi.json is not the OpenAPI document the code serves (paths differing: {:?}; \
         schemas differing: {:?}). Run scripts/refresh-ui-api.sh, which rewrites it and regenerates \
         assets/ui/src/api/schema.d.ts, then fix what `npm run typecheck` reports in assets/ui.",
        differing(&copy, &served, "/paths"),
        differing(&copy, &served, "/components/schemas"),
    );
}
