#!/usr/bin/env bash
# Schema check: applies migrations/*.sql (the way sqlx does: each file as ONE simple query inside a
# transaction) and src/store/sample_data.sql (twice: it must be idempotent) to a fresh scratch
# database, then checks constraints, triggers, grants and row-level security by running queries
# as the `authenticated` role with request claims, exactly as the service does.
#
# Usage: scripts/check-schema.sh [SERVER]
#   SERVER: a libpq URL (postgresql://user@host:port/db) or key=value string naming any database
#           on the server to test; the scratch database is created beside it and dropped at the
#           end (KEEP_DB=1 keeps it). Default: $CHECK_DATABASE_URL, else
#           postgresql://postgres@127.0.0.1:5432/postgres.
#   The user needs CREATEDB, and CREATEROLE while the roles `authenticated` / `anon` are missing.
# Exit status: 0 when every expectation holds; 1 otherwise (each failure is printed); 2 when the
# database could not be prepared.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SAMPLE="$ROOT/src/store/sample_data.sql"
SERVER="${1:-${CHECK_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/postgres}}"
DB="schema_check_$$_${RANDOM}"

# The connection string of database $1 on the same server as $SERVER.
db_url() {
    case "$SERVER" in
        postgres://* | postgresql://*)
            local scheme="${SERVER%%://*}" rest="${SERVER#*://}" query=""
            if [[ "$rest" == *\?* ]]; then query="?${rest#*\?}"; rest="${rest%%\?*}"; fi
            printf '%s://%s/%s%s' "$scheme" "${rest%%/*}" "$1" "$query" ;;
        *) printf '%s dbname=%s' "$SERVER" "$1" ;;
    esac
}
URL=$(db_url "$DB")
PSQL=(psql -X -q -At -v ON_ERROR_STOP=1)

cleanup() {
    if [[ "${KEEP_DB:-0}" == 1 ]]; then
        echo "kept scratch database $DB"
    else
        "${PSQL[@]}" -d "$SERVER" -c "drop database if exists \"$DB\" with (force)" >/dev/null 2>&1 || true
    fi
}

die() { echo "check-schema: $*" >&2; exit 2; }

# ------------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------------
FAILS=0
CHECKS=0
pass() { CHECKS=$((CHECKS + 1)); printf 'ok    %s\n' "$1"; }
fail() { CHECKS=$((CHECKS + 1)); FAILS=$((FAILS + 1)); printf 'FAIL  %s\n' "$1"; }

QUIET="set client_min_messages = error"

# owner SQL: run SQL (one implicit transaction) as the migrating (owner) user, print the results.
owner() { "${PSQL[@]}" -d "$URL" -c "$QUIET" -c "$1"; }

# as ROLE CLAIMS SQL: run SQL in a transaction as ROLE with request.jwt.claims = CLAIMS (no
# set_config at all when CLAIMS is "-"), then roll back. Prints SQL's results; on an error prints
# it and fails. psql does not stop at the error: the ROLLBACK is always sent, so a server that
# keeps a transaction open across a dropped connection (PGlite) is left clean.
as() {
    local role=$1 claims=$2 sql=$3 setclaims="" out
    if [[ "$claims" != "-" ]]; then
        # Signed by the owner the way the platform signs them (src/store/claims.rs), before the
        # role changes: only the owner can read the key.
        setclaims="select set_config('request.jwt.claims', case when :'claims' = '' then '' else
            (c || jsonb_build_object('sig', encode(sha256(k.key || sha256(k.key || convert_to(c ->> 'sub', 'UTF8'))), 'hex')))::text
            end, true) from auth.claims_key k, lateral (select nullif(:'claims', '')::jsonb as c) x;"
    fi
    out=$(psql -X -q -At -d "$URL" -v claims="$claims" 2>&1 <<SQL
$QUIET;
begin;
\o /dev/null
$setclaims
\o
set local role $role;
$sql;
rollback;
SQL
    ) || true
    printf '%s\n' "$out"
    ! grep -q 'ERROR:' <<<"$out"
}
claims_of() { printf '{"sub":"%s","role":"authenticated"}' "$1"; }

# expect DESC EXPECTED USER SQL          (USER: a uuid, "owner", "none" = empty claims, "unset")
# expect_error DESC PATTERN USER SQL     (PATTERN: extended regex matched against the error)
run_as() {
    case "$1" in
        owner) owner "$2" ;;
        none)  as authenticated '' "$2" ;;
        unset) as authenticated - "$2" ;;
        anon)  as anon '' "$2" ;;
        *)     as authenticated "$(claims_of "$1")" "$2" ;;
    esac
}
expect() {
    local desc=$1 want=$2 who=$3 sql=$4 got
    if got=$(run_as "$who" "$sql" 2>&1); then
        if [[ "$got" == "$want" ]]; then pass "$desc"; else fail "$desc: expected [$want], got [$got]"; fi
    else
        fail "$desc: unexpected error: $got"
    fi
}
expect_error() {
    local desc=$1 pattern=$2 who=$3 sql=$4 got
    if got=$(run_as "$who" "$sql" 2>&1); then
        fail "$desc: expected an error matching /$pattern/, but it succeeded: [$got]"
    elif grep -qiE -- "$pattern" <<<"$got"; then
        pass "$desc"
    else
        fail "$desc: expected an error matching /$pattern/, got: $got"
    fi
}
# expect_plan DESC PATTERN USER SQL: SQL's output (an EXPLAIN) contains PATTERN
expect_plan() {
    local desc=$1 pattern=$2 who=$3 sql=$4 got
    if got=$(run_as "$who" "$sql" 2>&1); then
        if grep -qF -- "$pattern" <<<"$got"; then pass "$desc"; else fail "$desc: plan lacks [$pattern]: $got"; fi
    else
        fail "$desc: unexpected error: $got"
    fi
}
# Rows touched by data-modifying statements (each ending in "returning 1"), '|'-separated:
# count_of "update ... returning 1" ["delete ... returning 1" ...]
count_of() {
    local i=0 ctes="" cols="" stmt
    for stmt in "$@"; do
        i=$((i + 1))
        ctes+="${ctes:+, }t$i as ($stmt)"
        cols+="${cols:+, }(select count(*) from t$i)"
    done
    printf 'with %s select %s' "$ctes" "$cols"
}

# ------------------------------------------------------------------------------------------------
# Scratch database, migrations, sample data
# ------------------------------------------------------------------------------------------------
echo "server: ${SERVER}  scratch database: $DB"
"${PSQL[@]}" -d "$SERVER" -c "create database \"$DB\"" >/dev/null || die "cannot create database $DB"
trap cleanup EXIT
echo "postgres: $(owner 'show server_version')"

# sqlx creates its bookkeeping table in public before running the first migration.
owner "create table public._sqlx_migrations (version bigint primary key, description text not null,
       installed_on timestamptz not null default now(), success boolean not null,
       checksum bytea not null, execution_time bigint not null)" >/dev/null

shopt -s nullglob
migrations=("$ROOT"/migrations/*.sql)
[[ ${#migrations[@]} -gt 0 ]] || die "no migrations in $ROOT/migrations"
for f in "${migrations[@]}"; do
    if grep -qiE '^[^-]*\b(concurrently|commit|rollback)\b|^[[:space:]]*(begin|start transaction)[[:space:]]*;' "$f"; then
        fail "$(basename "$f"): contains CONCURRENTLY or transaction control"
    fi
    [[ $(wc -c <"$f") -lt 120000 ]] || die "$(basename "$f") is too large to pass as one psql -c argument"
    # Like sqlx: BEGIN, the whole file as one simple query, COMMIT.
    out=$("${PSQL[@]}" -d "$URL" -c "$QUIET" -c "begin" -c "$(cat "$f")" -c "commit" 2>&1) \
        || die "migration $(basename "$f") failed: $out"
    pass "migration $(basename "$f") applies"
done

sample_counts="select (select count(*) from companies) || '/' || (select count(*) from departments) || '/' ||
    (select count(*) from kpis) || '/' || (select count(*) from kpi_values) || '/' || (select count(*) from kpi_targets)"
out=$("${PSQL[@]}" -d "$URL" -c "$QUIET" -c "$(cat "$SAMPLE")" 2>&1) || die "sample_data.sql failed: $out"
first=$(owner "$sample_counts")
out=$("${PSQL[@]}" -d "$URL" -c "$QUIET" -c "$(cat "$SAMPLE")" 2>&1) || die "sample_data.sql failed on its second run: $out"
expect "sample data: 3 companies, 15 departments, 36 KPIs, 864 values and targets" "3/15/36/864/864" owner "$sample_counts"
expect "sample data is idempotent (second run changes nothing)" "$first" owner "$sample_counts"
expect "sample data ends with the month before the current one, 24 months" \
    "t|24" owner "select max(period) = (date_trunc('month', now()) - interval '1 month')::date,
                         count(distinct period) from kpi_values"

# ------------------------------------------------------------------------------------------------
# Fixtures (as owner)
# ------------------------------------------------------------------------------------------------
UA=11111111-1111-4111-8111-111111111111  # alice: member, Acme / Sales
UB=22222222-2222-4222-8222-222222222222  # bob:   member, Globex / Sales
UC=33333333-3333-4333-8333-333333333333  # carol: admin,  Acme
UD=44444444-4444-4444-8444-444444444444  # dave:  admin,  Globex
UE=55555555-5555-4555-8555-555555555555  # erin:  member, Acme, disabled
UF=66666666-6666-4666-8666-666666666666  # frank: no metadata (defaults)
SA=a0000000-0000-4000-8000-00000000000a  # alice's chat session
SB=b0000000-0000-4000-8000-00000000000b  # bob's chat session
# Ids as quoted literals, looked up as owner (a sub-select run under RLS would see NULL instead).
ACME="'$(owner "select id from companies where name = 'Acme Manufacturing'")'::uuid"
GLOBEX="'$(owner "select id from companies where name = 'Globex Retail'")'::uuid"
dept() {
    printf "'%s'::uuid" "$(owner "select d.id from departments d join companies c on c.id = d.company_id
                                  where c.name = '$1' and d.name = '$2'")"
}
GLOBEX_KPI="'$(owner "select id from kpis where company_id = $GLOBEX and name = 'Headcount'")'::uuid"
ACME_KPI="'$(owner "select id from kpis where company_id = $ACME and name = 'Headcount'")'::uuid"

"${PSQL[@]}" -d "$URL" >/dev/null <<SQL || die "fixtures failed"
$QUIET;
insert into auth.users (id, email, encrypted_password, raw_user_meta_data) values
  ('$UA', 'alice@acme.test', '\$argon2id\$x', jsonb_build_object('display_name', 'Alice', 'company_id', $ACME, 'department_id', $(dept 'Acme Manufacturing' Sales))),
  ('$UB', 'bob@globex.test', '\$argon2id\$x', jsonb_build_object('display_name', 'Bob', 'company_id', $GLOBEX, 'department_id', $(dept 'Globex Retail' Sales))),
  ('$UC', 'carol@acme.test', '\$argon2id\$x', jsonb_build_object('display_name', 'Carol', 'role', 'admin', 'company_id', $ACME)),
  ('$UD', 'dave@globex.test', '\$argon2id\$x', jsonb_build_object('display_name', 'Dave', 'role', 'admin', 'company_id', $GLOBEX)),
  ('$UE', 'erin@acme.test', '\$argon2id\$x', jsonb_build_object('company_id', $ACME)),
  ('$UF', 'frank@example.test', '\$argon2id\$x', default);
update public.users set disabled = true where id = '$UE';
insert into api_keys (user_id, name, prefix, key_hash) values
  ('$UA', 'laptop', 'abx_a1', 'hash-a1'), ('$UA', 'ci', 'abx_a2', 'hash-a2'), ('$UB', 'script', 'abx_b1', 'hash-b1');
insert into sessions (id, user_id, agent, title) values
  ('$SA', '$UA', 'assistant', 'Alice chat'), ('$SB', '$UB', 'analyst', 'Bob chat');
insert into messages (session_id, user_id, role, content) values
  ('$SA', '$UA', 'user', 'hello from alice'), ('$SA', '$UA', 'assistant', 'hi alice'),
  ('$SB', '$UB', 'user', 'hello from bob'), ('$SB', '$UB', 'assistant', 'hi bob');
insert into agent_conversations (session_id, user_id, agent, step_count) values
  ('$SA', '$UA', 'assistant', 2), ('$SB', '$UB', 'analyst', 3);
insert into tasks (user_id, agent, input) values ('$UA', 'analyst', 'alice task'), ('$UB', 'analyst', 'bob task');
insert into llm_evaluations (model, provider, agent, user_id, session_id, latency_ms, outcome) values
  ('llama-3.2-3b-instruct', 'local', 'assistant', '$UA', '$SA', 120, 'success'),
  ('llama-3.2-3b-instruct', 'local', 'analyst', '$UB', '$SB', 140, 'success'),
  ('qwq-32b', 'local', 'analyst', '$UC', null, 900, 'error');
insert into agents (name, description, model_role, source) values ('analyst', 'KPI analyst', 'reasoning', 'builtin');
insert into agents (name, description, model_role, company_id) values ('globex-pricing', 'Globex only', 'fast', $GLOBEX);
SQL
pass "fixtures: 6 users through auth.users, chat data for alice and bob"

# ------------------------------------------------------------------------------------------------
# Seed data, structure, grants
# ------------------------------------------------------------------------------------------------
expect "seed providers" "anthropic:anthropic,local:local,openai:openai,openai-compatible:openai_compatible" owner \
    "select string_agg(name || ':' || kind, ',' order by name) from providers"
expect "seed models under provider local" \
    "deepseek-r1-distill-qwen-7b:code:32768,llama-3.2-3b-instruct:fast:8192,qwq-32b:reasoning:32768" owner \
    "select string_agg(m.name || ':' || m.role || ':' || m.context_size, ',' order by m.name)
       from models m join providers p on p.id = m.provider_id where p.name = 'local'"
expect "RLS enabled on every table in public and auth" "0" owner \
    "select count(*) from pg_class where relkind = 'r' and relnamespace in ('public'::regnamespace, 'auth'::regnamespace)
        and relname <> '_sqlx_migrations' and not relrowsecurity"
expect "20 tables in public (15 of the initial schema + embeddings + task_events + eval_runs + mcp_servers + session_events; besides _sqlx_migrations)" "20" owner \
    "select count(*) from pg_class where relkind = 'r' and relnamespace = 'public'::regnamespace and relname <> '_sqlx_migrations'"
expect "authenticated has no privilege on auth tables or _sqlx_migrations" "0" owner \
    "select count(*) from information_schema.role_table_grants
      where grantee in ('authenticated', 'anon', 'PUBLIC') and (table_schema = 'auth' or table_name = '_sqlx_migrations')"
expect "SECURITY DEFINER helpers are owned by the migrating user" "t" owner \
    "select bool_and(proowner = (select oid from pg_roles where rolname = current_user))
       from pg_proc where pronamespace = 'auth'::regnamespace and prosecdef"
expect "migrating user may SET ROLE authenticated" "t" owner \
    "select pg_has_role(current_user, 'authenticated', 'MEMBER')"

# ------------------------------------------------------------------------------------------------
# Constraints and triggers (as owner)
# ------------------------------------------------------------------------------------------------
expect "profile trigger: metadata copied" "Alice|member|Acme Manufacturing|Sales|alice@acme.test" owner \
    "select u.display_name, u.role, c.name, d.name, u.email from users u
       join companies c on c.id = u.company_id join departments d on d.id = u.department_id where u.id = '$UA'"
expect "profile trigger: missing metadata takes defaults" "|member|||f" owner \
    "select display_name, role, company_id, department_id, disabled from users where id = '$UF'"
expect "profile trigger: admin role from metadata" "admin" owner "select role from users where id = '$UC'"
expect_error "auth.users: email must be lower case" "users_email_lowercase" owner \
    "insert into auth.users (email, encrypted_password) values ('Zed@acme.test', 'x')"
expect_error "auth.users: email must look like an email" "users_email_format" owner \
    "insert into auth.users (email, encrypted_password) values ('not-an-email', 'x')"
expect_error "auth.users: email longer than 254 rejected" "users_email_length" owner \
    "insert into auth.users (email, encrypted_password) values (repeat('a', 250) || '@b.io', 'x')"
expect_error "auth.users: duplicate email reports users_email_key" "users_email_key" owner \
    "insert into auth.users (email, encrypted_password) values ('alice@acme.test', 'x')"
expect_error "profile trigger: unknown role fails the auth insert" "users_role_check" owner \
    "insert into auth.users (email, encrypted_password, raw_user_meta_data) values ('x@y.test', 'x', '{\"role\":\"root\"}')"
expect_error "profile trigger: department of another company rejected" "users_department_in_company_fkey" owner \
    "insert into auth.users (email, encrypted_password, raw_user_meta_data)
     values ('x@y.test', 'x', jsonb_build_object('company_id', $ACME, 'department_id', $(dept 'Globex Retail' Sales)))"
expect "email change in auth.users syncs public.users" "alice2@acme.test" owner \
    "update auth.users set email = 'alice2@acme.test' where id = '$UA';
     select email from users where id = '$UA'"
owner "update auth.users set email = 'alice@acme.test' where id = '$UA'" >/dev/null
expect "updated_at trigger (public.users)" "t" owner \
    "update users set display_name = 'Alice A.' where id = '$UA'; select updated_at > created_at from users where id = '$UA'"
expect "updated_at trigger (auth.users)" "t" owner \
    "update auth.users set last_sign_in_at = now() where id = '$UA'; select updated_at > created_at from auth.users where id = '$UA'"
expect_error "companies: name must be trimmed" "companies_name_check" owner "insert into companies (name) values (' Padded ')"
expect_error "companies: duplicate name reports companies_name_key" "companies_name_key" owner \
    "insert into companies (name) values ('Globex Retail')"
expect_error "departments: duplicate name in a company" "departments_company_id_name_key" owner \
    "insert into departments (company_id, name) values ($ACME, 'Sales')"
expect_error "api_keys: duplicate key hash reports api_keys_key_hash_key" "api_keys_key_hash_key" owner \
    "insert into api_keys (user_id, name, prefix, key_hash) values ('$UB', 'dup', 'abx', 'hash-a1')"
expect_error "messages: rating must be -1 or 1" "messages_rating_check" owner \
    "update messages set rating = 2 where session_id = '$SA'"
expect_error "messages: unknown role rejected" "messages_role_check" owner \
    "insert into messages (session_id, user_id, role, content) values ('$SA', '$UA', 'robot', 'x')"
expect "messages: seq orders messages written in one transaction" "user,assistant" owner \
    "select string_agg(role, ',' order by seq) from messages where session_id = '$SA'"
expect_error "kpis: company-wide KPI names are unique too (NULL department)" "kpis_company_id_department_id_name_key" owner \
    "insert into kpis (company_id, department_id, name) values ($ACME, null, 'Headcount')"
expect_error "kpis: department must belong to the KPI's company" "kpis_department_in_company_fkey" owner \
    "insert into kpis (company_id, department_id, name) values ($ACME, $(dept 'Globex Retail' Sales), 'Oops')"
expect_error "kpi_values: period must be the first of a month" "kpi_values_period_check" owner \
    "insert into kpi_values (kpi_id, period, value) select id, '2024-01-15', 1 from kpis limit 1"
expect_error "tasks: unknown status rejected" "tasks_status_check" owner \
    "update tasks set status = 'paused' where user_id = '$UA'"
expect "tasks: claim one queued task with FOR UPDATE SKIP LOCKED" "1" owner \
    "$(count_of "update tasks set status = 'running', lease_owner = 'replica-1',
                        lease_expires_at = now() + interval '1 minute', attempts = attempts + 1
                  where id = (select id from tasks where status = 'queued' order by created_at
                              limit 1 for update skip locked)
              returning 1")"
expect_plan "tasks: the claim query can use tasks_status_created_at_idx" "tasks_status_created_at_idx" owner \
    "set local enable_seqscan = off;
     explain (costs off) select id from tasks where status = 'queued' order by created_at limit 1 for update skip locked"
expect "tasks: status trigger sets started_at, finished_at, progress and clears the lease" "t|t|1|" owner \
    "update tasks set status = 'running', lease_owner = 'r1' where input = 'alice task';
     update tasks set status = 'succeeded', result = 'done' where input = 'alice task';
     select started_at is not null, finished_at is not null, progress, lease_owner from tasks where input = 'alice task'"
owner "update tasks set status = 'queued' where input = 'alice task'" >/dev/null
expect "tasks: requeue clears finished_at" "t" owner "select finished_at is null from tasks where input = 'alice task'"
expect "a new message bumps its session's updated_at" "t" owner \
    "insert into messages (session_id, user_id, role, content) values ('$SB', '$UB', 'user', 'again');
     select updated_at > created_at from sessions where id = '$SB'"
expect "login_attempts: insert" "1" owner \
    "$(count_of "insert into auth.login_attempts (email, ip, succeeded) values ('alice@acme.test', '10.0.0.1', false) returning 1")"
expect "auth.sessions: insert" "1" owner \
    "$(count_of "insert into auth.sessions (user_id, token_hash, csrf_token, expires_at) values ('$UA', 'tok', 'csrf', now() + interval '1 day') returning 1")"

# ------------------------------------------------------------------------------------------------
# RLS: alice (member of Acme)
# ------------------------------------------------------------------------------------------------
expect "alice: auth.uid / role / company_id / is_admin" "$UA|authenticated|t|f" "$UA" \
    "select auth.uid(), auth.role(), auth.company_id() = $ACME, auth.is_admin()"
expect "alice: sees her 2 api keys, none of bob's" "2|0" "$UA" \
    "select count(*), count(*) filter (where user_id <> '$UA') from api_keys"
expect "alice: sees her session only" "$SA" "$UA" "select string_agg(id::text, ',') from sessions"
expect "alice: sees her 2 messages only" "2|0" "$UA" \
    "select count(*), count(*) filter (where user_id <> '$UA' or session_id <> '$SA') from messages"
expect "alice: sees her task only" "alice task" "$UA" "select string_agg(input, ',') from tasks"
expect "alice: sees her agent conversation only" "1|0" "$UA" \
    "select count(*), count(*) filter (where user_id <> '$UA') from agent_conversations"
expect "alice: sees her llm evaluation only" "1|0" "$UA" \
    "select count(*), count(*) filter (where user_id <> '$UA') from llm_evaluations"
expect "alice: sees her own profile only" "alice@acme.test" "$UA" "select string_agg(email, ',') from users"
expect "alice: sees her company only" "Acme Manufacturing" "$UA" "select string_agg(name, ',') from companies"
expect "alice: sees her company's 5 departments" "5|0" "$UA" \
    "select count(*), count(*) filter (where company_id <> $ACME) from departments"
expect "alice: sees Acme's 12 KPIs only" "12|0" "$UA" \
    "select count(*), count(*) filter (where company_id <> $ACME) from kpis"
expect "alice: sees Acme's KPI values and targets only" "288|288" "$UA" \
    "select (select count(*) from kpi_values), (select count(*) from kpi_targets)"
expect "alice: reads all providers and models" "4|3" "$UA" "select (select count(*) from providers), (select count(*) from models)"
expect "alice: sees global agents, not Globex's" "analyst" "$UA" "select string_agg(name, ',') from agents"
expect_plan "alice: policies evaluate auth.uid() once per statement (InitPlan)" "InitPlan" "$UA" \
    "explain (costs off) select * from sessions"
expect_error "alice: cannot read auth.users" "permission denied" "$UA" "select count(*) from auth.users"
expect_error "alice: cannot read auth.sessions" "permission denied" "$UA" "select count(*) from auth.sessions"
expect_error "alice: cannot read auth.login_attempts" "permission denied" "$UA" "select count(*) from auth.login_attempts"
expect_error "alice: cannot read _sqlx_migrations" "permission denied" "$UA" "select count(*) from _sqlx_migrations"
expect_error "alice: cannot insert a message into bob's session" "row-level security" "$UA" \
    "insert into messages (session_id, user_id, role, content) values ('$SB', '$UA', 'user', 'intrusion')"
expect_error "alice: cannot insert a message as bob into bob's session" "row-level security" "$UA" \
    "insert into messages (session_id, user_id, role, content) values ('$SB', '$UB', 'user', 'intrusion')"
expect "alice: can insert a message into her own session" "1" "$UA" \
    "$(count_of "insert into messages (session_id, user_id, role, content) values ('$SA', '$UA', 'user', 'more') returning 1")"
expect "alice: can create a session, a task and an api key of her own" "1|1|1" "$UA" \
    "$(count_of "insert into sessions (user_id, agent) values ('$UA', 'assistant') returning 1" \
                "insert into tasks (user_id, agent, input) values ('$UA', 'analyst', 'x') returning 1" \
                "insert into api_keys (user_id, name, prefix, key_hash) values ('$UA', 'k', 'abx', 'h-new') returning 1")"
expect_error "alice: cannot create a session for bob" "row-level security" "$UA" \
    "insert into sessions (user_id, agent) values ('$UB', 'assistant')"
expect_error "alice: cannot queue a task for bob" "row-level security" "$UA" \
    "insert into tasks (user_id, agent, input) values ('$UB', 'analyst', 'x')"
expect "alice: updating bob's session touches nothing" "0" "$UA" \
    "$(count_of "update sessions set title = 'pwned' where id = '$SB' returning 1")"
expect "alice: deleting bob's tasks and keys touches nothing" "0|0" "$UA" \
    "$(count_of "delete from tasks where user_id = '$UB' returning 1" "delete from api_keys where user_id = '$UB' returning 1")"
expect_error "alice: cannot move her session to bob" "row-level security" "$UA" \
    "update sessions set user_id = '$UB' where id = '$SA'"
expect "alice: can rate an assistant message in her session" "1" "$UA" \
    "$(count_of "update messages set rating = 1, rating_comment = 'good' where session_id = '$SA' and role = 'assistant' returning 1")"
expect "alice (member): cannot make herself admin" "0" "$UA" \
    "$(count_of "update users set role = 'admin' where id = '$UA' returning 1")"
expect_error "alice: cannot change her profile email (column privilege)" "permission denied" "$UA" \
    "update users set email = 'x@y.test' where id = '$UA'"
expect "alice: cannot delete profiles" "0" "$UA" "$(count_of "delete from users returning 1")"
expect_error "alice (member): cannot write KPI values" "row-level security" "$UA" \
    "insert into kpi_values (kpi_id, period, value) values ($ACME_KPI, '2001-01-01', 1)"
expect "alice (member): cannot change providers" "0" "$UA" "$(count_of "update providers set enabled = false returning 1")"
expect_error "alice (member): cannot create agents" "row-level security" "$UA" \
    "insert into agents (name, model_role) values ('mine', 'fast')"
expect "alice (member): sees no MCP servers" "0" "$UA" "select count(*) from mcp_servers"
expect_error "alice (member): cannot add an MCP server (it runs a command on the host)" "row-level security" "$UA" \
    "insert into mcp_servers (name, transport, config_ciphertext) values ('mine', 'stdio', '\\x00')"
expect "carol (admin): can add an MCP server" "1" "$UC" \
    "$(count_of "insert into mcp_servers (name, transport, config_ciphertext) values ('files', 'stdio', '\\x00') returning 1")"
expect_error "mcp_servers: a name holding the tool separator is refused" "mcp_servers_name_check" owner \
    "insert into mcp_servers (name, transport, config_ciphertext) values ('a__b', 'stdio', '\\x00')"
expect "alice: tampered claims (company_id, admin flags) are ignored" "0|f|12" "$UA" \
    "do \$\$ begin perform set_config('request.jwt.claims', (current_setting('request.jwt.claims')::jsonb || jsonb_build_object(
         'role', 'service_role', 'company_id', $GLOBEX, 'is_admin', true, 'user_role', 'admin'))::text, true); end \$\$;
     select (select count(*) from kpis where company_id = $GLOBEX), auth.is_admin(), (select count(*) from kpis)"
expect "demo question as alice: Acme departments that missed revenue target last quarter" \
    "Marketing,Operations|Engineering,Finance,Sales" "$UA" \
    "with q as (select (date_trunc('quarter', now()) - interval '3 months')::date as s),
          r as (select d.name, sum(v.value) as actual, sum(t.target) as target
                  from kpis k join departments d on d.id = k.department_id
                  join kpi_values v on v.kpi_id = k.id
                  join kpi_targets t on t.kpi_id = k.id and t.period = v.period, q
                 where k.name = 'Revenue' and v.period >= q.s and v.period < q.s + interval '3 months'
                 group by d.name)
     select string_agg(name, ',' order by name) filter (where actual < target),
            string_agg(name, ',' order by name) filter (where actual >= target) from r"

# ------------------------------------------------------------------------------------------------
# RLS: other users
# ------------------------------------------------------------------------------------------------
expect "bob: sees his own chat data only" "$SB|3|bob task" "$UB" \
    "select (select string_agg(id::text, ',') from sessions), (select count(*) from messages), (select string_agg(input, ',') from tasks)"
expect "bob: sees Globex KPIs only" "12|0" "$UB" "select count(*), count(*) filter (where company_id <> $GLOBEX) from kpis"
expect "bob: sees the Globex-only agent" "analyst,globex-pricing" "$UB" "select string_agg(name, ',' order by name) from agents"
expect "carol (Acme admin): sees Acme users, not Globex's" "alice@acme.test,carol@acme.test,erin@acme.test" "$UC" \
    "select string_agg(email, ',' order by email) from users"
expect "dave (Globex admin): sees Globex users only" "bob@globex.test,dave@globex.test" "$UD" \
    "select string_agg(email, ',' order by email) from users"
expect "carol: updates an Acme user, not a Globex user" "1|0" "$UC" \
    "$(count_of "update users set display_name = 'A', department_id = $(dept 'Acme Manufacturing' Finance) where id = '$UA' returning 1" \
                "update users set display_name = 'B' where id = '$UB' returning 1")"
expect_error "carol: cannot move a user to another company" "row-level security" "$UC" \
    "update users set company_id = $GLOBEX, department_id = null where id = '$UA'"
expect_error "carol: cannot put a user in another company's department" "users_department_in_company_fkey" "$UC" \
    "update users set department_id = $(dept 'Globex Retail' Sales) where id = '$UA'"
expect "carol: cannot delete users" "0" "$UC" "$(count_of "delete from users returning 1")"
expect "carol: does not see alice's chats" "0|0" "$UC" "select (select count(*) from sessions), (select count(*) from messages)"
expect "carol: reads llm evaluations of Acme users (alice + own), not bob's" "2|0" "$UC" \
    "select count(*), count(*) filter (where user_id = '$UB') from llm_evaluations"
expect "carol: writes Acme KPI values and departments, renames Acme" "1|1|1" "$UC" \
    "$(count_of "insert into kpi_values (kpi_id, period, value) values ($ACME_KPI, '2001-01-01', 1) returning 1" \
                "insert into departments (company_id, name) values ($ACME, 'Legal') returning 1" \
                "update companies set name = 'Acme Manufacturing Inc' returning 1")"
expect_error "carol: cannot write Globex KPI values" "row-level security" "$UC" \
    "insert into kpi_values (kpi_id, period, value) values ($GLOBEX_KPI, '2001-01-01', 1)"
expect_error "carol: cannot create a Globex department" "row-level security" "$UC" \
    "insert into departments (company_id, name) values ($GLOBEX, 'Legal')"
expect "carol: updates providers and models, creates a global agent" "4|3|1" "$UC" \
    "$(count_of "update providers set priority = priority returning 1" "update models set enabled = true returning 1" \
                "insert into agents (name, model_role) values ('acme-helper', 'fast') returning 1")"
expect_error "carol: cannot create a Globex agent" "row-level security" "$UC" \
    "insert into agents (name, model_role, company_id) values ('evil', 'fast', $GLOBEX)"
expect "carol: cannot touch the Globex-only agent" "0" "$UC" "$(count_of "update agents set enabled = false where name = 'globex-pricing' returning 1")"
expect "erin (disabled): no company data, not admin" "|f|0|0" "$UE" \
    "select auth.company_id(), auth.is_admin(), (select count(*) from kpis), (select count(*) from companies)"
expect "frank (no company): no company data" "0|0|0" "$UF" \
    "select (select count(*) from kpis), (select count(*) from companies), (select count(*) from departments)"
expect "empty claims: auth.uid() is NULL, no user data visible" "t|0|0|0" none \
    "select auth.uid() is null, (select count(*) from sessions), (select count(*) from kpis), (select count(*) from users)"
expect "claims never set: auth.jwt() is {}" "{}|t" unset "select auth.jwt(), auth.uid() is null"
expect_error "anon: no access to public tables" "permission denied" anon "select count(*) from sessions"

# ------------------------------------------------------------------------------------------------
# Embeddings (migrations/20261125000000_embeddings.sql): pgvector or real[], own rows only
# ------------------------------------------------------------------------------------------------
EMB_TYPE=$(owner "select t.typname from pg_attribute a join pg_type t on t.oid = a.atttypid
                   where a.attrelid = 'public.embeddings'::regclass and a.attname = 'embedding'")
echo "note  embeddings.embedding is stored as: $EMB_TYPE (vector = pgvector, _float4 = real[] fallback)"
A_MSG="(select id from messages where session_id = '$SA' order by seq limit 1)"
B_MSG="'$(owner "select id from messages where session_id = '$SB' order by seq limit 1")'::uuid"
expect "embedding_cosine: exact cosine of real[] vectors" "0.707|1.000000|" owner \
    "select round(public.embedding_cosine('{1,0}', '{1,1}')::numeric, 3), round(public.embedding_cosine('{2,2}', '{1,1}')::numeric, 6),
            public.embedding_cosine('{0,0}', '{1,1}')"
expect "alice: stores vectors of her message and a workspace chunk" "1|1" "$UA" \
    "$(count_of "insert into embeddings (owner, source, message_id, content, model, dims, embedding)
                   values ('$UA', 'message', $A_MSG, 'hello', 'm', 3, array[1,0,0]::real[]) returning 1" \
                "insert into embeddings (owner, source, path, chunk, content, model, dims, embedding)
                   values ('$UA', 'workspace', 'notes.md', 0, 'notes', 'm', 3, array[0,1,0]::real[]) returning 1")"
expect "alice: re-storing the same source and model replaces the vector (unique key upsert)" "1" "$UA" \
    "$(count_of "insert into embeddings (owner, source, path, chunk, content, model, dims, embedding)
                   values ('$UA', 'workspace', 'notes.md', 0, 'notes v2', 'm', 3, array[0,0,1]::real[])
                   on conflict on constraint embeddings_source_key do update set content = excluded.content returning 1")"
expect_error "alice: cannot store a vector owned by bob" "row-level security" "$UA" \
    "insert into embeddings (owner, source, path, content, model, dims, embedding)
       values ('$UB', 'workspace', 'x', 'x', 'm', 3, array[1,0,0]::real[])"
expect_error "alice: cannot store a vector of bob's message" "row-level security" "$UA" \
    "insert into embeddings (owner, source, message_id, content, model, dims, embedding)
       values ('$UA', 'message', $B_MSG, 'x', 'm', 3, array[1,0,0]::real[])"
expect_error "embeddings: a message row needs its message id" "embeddings_reference_check" owner \
    "insert into embeddings (owner, source, path, content, model, dims, embedding)
       values ('$UA', 'message', 'x', 'x', 'm', 3, array[1,0,0]::real[])"
owner "insert into embeddings (owner, source, message_id, content, model, dims, embedding)
         values ('$UB', 'message', $B_MSG, 'bob secret', 'm', 3, array[1,0,0]::real[]);
       insert into embeddings (owner, source, message_id, content, model, dims, embedding)
         values ('$UA', 'message', $A_MSG, 'alice hello', 'm', 3, array[1,0,0]::real[]);" >/dev/null
expect "alice: sees her vectors only" "1|0" "$UA" \
    "select count(*), count(*) filter (where owner <> '$UA') from embeddings"
expect "alice: updating and deleting bob's vectors touches nothing" "0|0" "$UA" \
    "$(count_of "update embeddings set content = 'pwned' where owner = '$UB' returning 1" \
                "delete from embeddings where owner = '$UB' returning 1")"
expect "bob: his nearest vector is his own" "bob secret" "$UB" \
    "select content from embeddings order by public.embedding_cosine(embedding::real[], '{1,0,0}') desc limit 1"

# ------------------------------------------------------------------------------------------------
# Task events (migrations/20261126000000_task_events.sql): own rows only, immutable for the role
# ------------------------------------------------------------------------------------------------
TA="'$(owner "select id from tasks where input = 'alice task'")'::uuid"
TB="'$(owner "select id from tasks where input = 'bob task'")'::uuid"
expect "alice: appends an event to her own task" "1" "$UA" \
    "$(count_of "insert into task_events (task_id, user_id, kind, data)
                   values ($TA, '$UA', 'token', '{\"text\": \"hi\"}') returning 1")"
expect_error "alice: cannot append an event to bob's task" "row-level security" "$UA" \
    "insert into task_events (task_id, user_id, kind) values ($TB, '$UA', 'token')"
expect_error "alice: cannot write an event as bob" "row-level security" "$UA" \
    "insert into task_events (task_id, user_id, kind) values ($TB, '$UB', 'token')"
owner "insert into task_events (task_id, user_id, kind) values ($TA, '$UA', 'started'), ($TB, '$UB', 'started')" >/dev/null
expect "alice: sees her tasks' events only" "1|0" "$UA" \
    "select count(*), count(*) filter (where user_id <> '$UA') from task_events"
expect_error "alice: cannot change her events (immutable)" "permission denied" "$UA" \
    "update task_events set kind = 'x' where user_id = '$UA'"
expect_error "alice: cannot delete her events (they go with their task)" "permission denied" "$UA" \
    "delete from task_events where user_id = '$UA'"
expect_error "task_events: kind is a lower-case name" "task_events_kind_check" owner \
    "insert into task_events (task_id, user_id, kind) values ($TA, '$UA', 'Tool Call')"
expect_error "task_events: data is a JSON object" "task_events_data_check" owner \
    "insert into task_events (task_id, user_id, kind, data) values ($TA, '$UA', 'token', '[1]')"
expect_plan "task_events: replay uses task_events_task_id_id_idx" "task_events_task_id_id_idx" owner \
    "set local enable_seqscan = off;
     explain (costs off) select * from task_events where task_id = $TA and id > 1 order by id limit 200"
expect "deleting a task deletes its events" "0" owner \
    "delete from tasks where id = $TA; select count(*) from task_events where task_id = $TA"

# ------------------------------------------------------------------------------------------------
# Session events (migrations/20261207123000_session_events.sql): own sessions only; cleared, not
# changed
# ------------------------------------------------------------------------------------------------
expect "alice: appends an event to her own session" "1" "$UA" \
    "$(count_of "insert into session_events (session_id, user_id, kind, data)
                   values ('$SA', '$UA', 'token', '{\"text\": \"hi\"}') returning 1")"
expect_error "alice: cannot append an event to bob's session" "row-level security" "$UA" \
    "insert into session_events (session_id, user_id, kind) values ('$SB', '$UA', 'token')"
expect_error "alice: cannot write an event as bob" "row-level security" "$UA" \
    "insert into session_events (session_id, user_id, kind) values ('$SB', '$UB', 'token')"
owner "insert into session_events (session_id, user_id, kind) values ('$SA', '$UA', 'message'), ('$SB', '$UB', 'message')" >/dev/null
expect "alice: sees her sessions' events only" "1|0" "$UA" \
    "select count(*), count(*) filter (where user_id <> '$UA') from session_events"
expect "alice: clearing events touches bob's none" "0" "$UA" \
    "$(count_of "delete from session_events where user_id = '$UB' returning 1")"
expect_error "alice: cannot change her events" "permission denied" "$UA" \
    "update session_events set kind = 'x' where user_id = '$UA'"
expect_error "session_events: kind is a lower-case name" "session_events_kind_check" owner \
    "insert into session_events (session_id, user_id, kind) values ('$SA', '$UA', 'Tool Call')"
expect_plan "session_events: replay uses session_events_session_id_id_idx" "session_events_session_id_id_idx" owner \
    "set local enable_seqscan = off;
     explain (costs off) select * from session_events where session_id = '$SA' and id > 1 order by id limit 200"
expect "auth.session_claims: no grant to authenticated" "f" owner \
    "select has_table_privilege('authenticated', 'auth.session_claims', 'select')"

# ------------------------------------------------------------------------------------------------
# Eval runs and message ratings (migrations/20261126093000_eval_runs_and_ratings.sql)
# ------------------------------------------------------------------------------------------------
RUN="insert into eval_runs (user_id, suite, started_at, finished_at, passed, failed, results)"
owner "$RUN values ('$UA', 'alice suite', now() - interval '1 minute', now(), 1, 0, '[{\"name\": \"a\", \"passed\": true}]');
       $RUN values ('$UB', 'bob suite', now() - interval '1 minute', now(), 0, 1, '[]');
       $RUN values ('$UC', 'carol suite', now() - interval '1 minute', now(), 2, 0, '[]');
       update messages set rating = 1, rated_at = now() where session_id = '$SA' and role = 'assistant';
       update messages set rating = -1, rating_comment = 'bob private note', rated_at = now()
        where session_id = '$SB' and role = 'assistant';" >/dev/null
expect "alice: records her own eval run" "1" "$UA" \
    "$(count_of "$RUN values ('$UA', 'again', now(), now(), 0, 0, '[]') returning 1")"
expect_error "alice: cannot record a run as bob" "row-level security" "$UA" \
    "$RUN values ('$UB', 'forged', now(), now(), 0, 0, '[]')"
expect_error "eval_runs: results must be an array" "eval_runs_results_check" owner \
    "$RUN values ('$UA', 's', now(), now(), 0, 0, '{}')"
expect_error "eval_runs: finished_at not before started_at" "eval_runs_times_check" owner \
    "$RUN values ('$UA', 's', now(), now() - interval '1 second', 0, 0, '[]')"
expect "alice: sees her eval run only" "alice suite" "$UA" "select string_agg(suite, ',') from eval_runs"
expect "carol (Acme admin): sees Acme's eval runs, not bob's" "alice suite,carol suite" "$UC" \
    "select string_agg(suite, ',' order by suite) from eval_runs"
expect "dave (Globex admin): sees Globex's eval runs only" "bob suite" "$UD" "select string_agg(suite, ',') from eval_runs"
expect "alice: cannot delete bob's eval run" "0" "$UA" "$(count_of "delete from eval_runs where user_id = '$UB' returning 1")"
expect_error "alice: cannot change an eval run" "permission denied" "$UA" "update eval_runs set passed = 9"
expect "message_ratings shows no message text or comment" "0" owner \
    "select count(*) from information_schema.columns where table_name = 'message_ratings'
        and column_name in ('content', 'rating_comment')"
expect "alice: sees her own rating only" "1|0" "$UA" \
    "select count(*), count(*) filter (where user_id <> '$UA') from message_ratings"
expect "carol (Acme admin): sees Acme ratings (alice's), still none of alice's messages" "1|$UA|0" "$UC" \
    "select count(*), string_agg(user_id::text, ','), (select count(*) from messages) from message_ratings"
expect "dave (Globex admin): sees bob's rating only" "-1" "$UD" "select string_agg(rating::text, ',') from message_ratings"
expect "erin (disabled): no ratings, none of bob's" "0|0" "$UE" \
    "select (select count(*) from message_ratings), (select count(*) from message_ratings where user_id = '$UB')"
expect "empty claims: no ratings" "0" none "select count(*) from message_ratings"
expect_error "alice: message_ratings is read-only" "permission denied" "$UA" "update message_ratings set rating = -1"
expect_error "anon: no access to message_ratings or eval_runs" "permission denied" anon \
    "select (select count(*) from message_ratings), (select count(*) from eval_runs)"

# Claims are believed only with the platform's signature (migration signed_claims): a caller who
# can run set_config cannot name another user.
expect "alice re-setting request.jwt.claims to bob's id, unsigned: none of bob's sessions, no one" "0|" "$UA" \
    "do \$\$ begin perform set_config('request.jwt.claims', '{\"sub\":\"$UB\"}', true); end \$\$;
     select (select count(*) from sessions where user_id = '$UB'), auth.uid()"
expect "alice putting bob's id under her own signature: none of bob's sessions, no one" "0|" "$UA" \
    "do \$\$ begin perform set_config('request.jwt.claims', jsonb_set(current_setting('request.jwt.claims')::jsonb,
         '{sub}', to_jsonb('$UB'::text))::text, true); end \$\$;
     select (select count(*) from sessions where user_id = '$UB'), auth.uid()"
expect "alice, signed: auth.uid() is her id" "$UA" "$UA" "select auth.uid()"
expect_error "alice: the claims key is out of reach" "permission denied" "$UA" "select key from auth.claims_key"
expect "one 32-byte claims key" "1|32" owner "select count(*), max(octet_length(key)) from auth.claims_key"

# Cascades last (they destroy fixtures).
expect "deleting an auth user removes profile, sessions, messages, keys; keeps evaluations" "0|0|0|0|1" owner \
    "delete from auth.users where id = '$UB';
     select (select count(*) from users where id = '$UB'), (select count(*) from sessions where id = '$SB'),
            (select count(*) from messages where session_id = '$SB'), (select count(*) from api_keys where key_hash = 'hash-b1'),
            (select count(*) from llm_evaluations where agent = 'analyst' and user_id is null)"
expect "deleting an auth user removes their tasks' events" "0" owner \
    "select count(*) from task_events where user_id = '$UB'"
expect "deleting a department clears users' department, deletes its KPIs" "t|0" owner \
    "delete from departments where id = $(dept 'Acme Manufacturing' Sales);
     select department_id is null, (select count(*) from kpis k where k.department_id is not null
        and not exists (select 1 from departments d where d.id = k.department_id)) from users where id = '$UA'"
expect "deleting a company cascades departments, KPIs, values; users keep their rows" "0|0|t" owner \
    "delete from companies where name = 'Globex Retail';
     select (select count(*) from departments d where not exists (select 1 from companies c where c.id = d.company_id)),
            (select count(*) from kpi_values v where not exists (select 1 from kpis k where k.id = v.kpi_id)),
            (select company_id is null from users where id = '$UD')"

echo
if [[ $FAILS -gt 0 ]]; then
    echo "check-schema: $FAILS of $CHECKS checks FAILED"
    exit 1
fi
echo "check-schema: all $CHECKS checks passed"
