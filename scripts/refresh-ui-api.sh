#!/usr/bin/env bash
# Refreshes the web UI's copy of the OpenAPI document (assets/ui/openapi.json) from the code
# and regenerates its TypeScript types (assets/ui/src/api/schema.d.ts). Run it after changing a
# route or a schema; tests/it/openapi/ui_snapshot.rs fails until you do.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/agentbox-target}"

if cargo nextest --version >/dev/null 2>&1; then
    AGENTBOX_REFRESH_UI_API=1 cargo nextest run --release -E 'test(the_ui_copy_of_the_openapi_document_is_current)'
else
    AGENTBOX_REFRESH_UI_API=1 cargo test --release --test it the_ui_copy_of_the_openapi_document_is_current
fi
cd assets/ui
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run --silent api
echo "refreshed assets/ui/openapi.json and assets/ui/src/api/schema.d.ts; run npm run typecheck in assets/ui"
