#!/bin/sh
# The runtime role of agentbox (docs/operations.md, "Least privilege in Postgres"): it logs in,
# owns nothing, cannot bypass row-level security, and becomes `authenticated` (agentbox grants
# that membership at start-up, once its migrations have made the role). Run once by the
# postgres image on an empty data volume, as POSTGRES_USER (the owner of agentbox's tables).
set -eu
: "${AGENTBOX_RUNTIME_PASSWORD:?set AGENTBOX_RUNTIME_PASSWORD in .env}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v password="$AGENTBOX_RUNTIME_PASSWORD" <<'SQL'
create role agentbox_runtime login noinherit nosuperuser nobypassrls nocreaterole nocreatedb
    password :'password';
SQL
